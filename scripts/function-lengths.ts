/**
 * Finds function bodies in TypeScript source and their lengths in lines, for the lint's
 * "functions stay short" check. A bracket scanner, not a parser (TypeScript 7 ships no JS parser
 * API): it sees `function f() {`, methods and constructors (`name(...) {`, with or without a
 * return type), and arrow functions with a block body (`=> {`). Control statements (`if (...) {`
 * and the like) are not functions. Comments, strings, template text and regular expressions are
 * blanked first (`blankNonCode`), so brackets in them do not count.
 */

export interface FunctionBody {
  /** The name before the parameter list, or 'arrow function'. */
  name: string;
  /** 1-based lines of the body's opening and closing braces. */
  startLine: number;
  endLine: number;
  /** Lines from the opening brace to the closing one, both included. */
  lines: number;
}

const NOT_FUNCTIONS = new Set([
  'if',
  'for',
  'while',
  'switch',
  'catch',
  'with',
  'return',
  'typeof',
  'await',
  'new',
  'super',
]);

interface Open {
  char: string;
  at: number;
  /** The function this brace opens the body of, if it does. */
  fn?: string;
}

/** The previous non-blank character before `i` and its index. */
function previous(code: ArrayLike<string>, i: number): { c: string; at: number } {
  let j = i - 1;
  while (j >= 0 && /\s/.test(code[j] as string)) j--;
  return { c: j >= 0 ? (code[j] as string) : '', at: j };
}

function nextChar(code: string, i: number): string {
  let j = i + 1;
  while (j < code.length && /\s/.test(code[j] as string)) j++;
  return code[j] ?? '';
}

/** The identifier ending right before index `end` (exclusive), skipping blanks and type arguments. */
function wordBefore(code: string, end: number): string {
  let j = end - 1;
  while (j >= 0 && /\s/.test(code[j] as string)) j--;
  if (code[j] === '>') {
    // f<T>(...): skip the type arguments.
    let depth = 0;
    for (; j >= 0; j--) {
      if (code[j] === '>') depth++;
      else if (code[j] === '<' && --depth === 0) break;
    }
    j--;
    while (j >= 0 && /\s/.test(code[j] as string)) j--;
  }
  const stop = j + 1;
  while (j >= 0 && /[\w$]/.test(code[j] as string)) j--;
  return code.slice(j + 1, stop);
}

/** The name of a parameter list's function when `(` at `open` starts one, else undefined. */
function functionNameAt(code: string, open: number): string | undefined {
  const word = wordBefore(code, open);
  if (NOT_FUNCTIONS.has(word)) return undefined;
  return word === '' || word === 'function' ? 'anonymous function' : word;
}

function lineOf(starts: number[], at: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((starts[mid] as number) <= at) lo = mid;
    else hi = mid - 1;
  }
  return lo + 1;
}

/** Every function body in `code` (comments and strings blanked), in order of their closing braces. */
export function functionBodies(code: string): FunctionBody[] {
  const starts = [0];
  for (let i = 0; i < code.length; i++) if (code[i] === '\n') starts.push(i + 1);
  const stack: Open[] = [];
  const out: FunctionBody[] = [];
  /** A parameter list closed and a return type follows: its body is the next `{` at this depth that ends the type. */
  let pending: { name: string; depth: number } | undefined;
  for (let i = 0; i < code.length; i++) {
    const ch = code[i] as string;
    if (ch === '(' || ch === '[') stack.push({ char: ch, at: i });
    else if (ch === ')' || ch === ']') {
      const open = stack.pop();
      if (pending !== undefined && stack.length < pending.depth) pending = undefined;
      if (ch === ')' && open !== undefined && nextChar(code, i) === ':' && pending === undefined) {
        const name = functionNameAt(code, open.at);
        if (name !== undefined) pending = { name, depth: stack.length };
      }
    } else if (ch === '{') {
      const fn = bodyName(code, i, stack.length, pending);
      stack.push({ char: ch, at: i, fn });
      if (fn !== undefined) pending = undefined;
    } else if (ch === '}') {
      const open = stack.pop();
      if (pending !== undefined && stack.length < pending.depth) pending = undefined;
      if (open?.fn !== undefined) {
        const startLine = lineOf(starts, open.at);
        const endLine = lineOf(starts, i);
        out.push({ name: open.fn, startLine, endLine, lines: endLine - startLine + 1 });
      }
    } else if (
      (ch === ';' || ch === ',' || (ch === '=' && code[i + 1] !== '>')) &&
      pending !== undefined &&
      stack.length === pending.depth
    ) {
      // A signature without a body (an interface member, an overload) or not a function at all.
      pending = undefined;
    }
  }
  return out;
}

/** A `/` at `i` where an expression starts is a regular expression literal (its brackets do not count). */
function startsRegex(code: ArrayLike<string>, i: number): boolean {
  if (code[i + 1] === '/' || code[i + 1] === '*') return false;
  const prev = previous(code, i);
  if (prev.c === '' || '(,=:[!&|?{};+-*%<>~^'.includes(prev.c)) return true;
  let word = '';
  for (let j = prev.at; j >= 0 && /[\w$]/.test(code[j] as string); j--) word = (code[j] as string) + word;
  return ['return', 'typeof', 'case', 'of', 'in'].includes(word);
}

/** The index of the regular expression literal's closing `/` (or the line's end). */
function regexEnd(code: string, i: number): number {
  let inClass = false;
  for (let j = i + 1; j < code.length; j++) {
    const c = code[j];
    if (c === '\\') j++;
    else if (c === '\n') return j;
    else if (c === '[') inClass = true;
    else if (c === ']') inClass = false;
    else if (c === '/' && !inClass) return j;
  }
  return code.length;
}

/** Whether the `{` at `i` (at bracket depth `depth`) opens a function body, and whose. */
function bodyName(
  code: string,
  i: number,
  depth: number,
  pending: { name: string; depth: number } | undefined,
): string | undefined {
  const prev = previous(code, i);
  if (prev.c === '>' && code[prev.at - 1] === '=') return 'arrow function';
  if (prev.c === ')') {
    // The matching `(` of this `)`: walk back over balanced parentheses.
    let level = 0;
    for (let j = prev.at; j >= 0; j--) {
      if (code[j] === ')') level++;
      else if (code[j] === '(' && --level === 0) return functionNameAt(code, j);
    }
    return undefined;
  }
  // The end of a return type: after a name, a closing bracket or a string literal type.
  if (pending !== undefined && pending.depth === depth && /[\w$>\])}']/.test(prev.c)) return pending.name;
  return undefined;
}

/**
 * `text` with comments, string and template text and regular expressions replaced by blanks (the
 * same length, newlines kept); a template's `${...}` stays code.
 */
export function blankNonCode(text: string): string {
  const out = text.split('');
  const blank = (from: number, to: number): void => {
    for (let k = from; k < to; k++) if (out[k] !== '\n') out[k] = ' ';
  };
  /** For each open `{` in code: whether it is a template's `${` (its `}` returns to the template). */
  const braces: boolean[] = [];
  let i = 0;
  /** Blanks template text from `i` to its end or its next `${`; returns the index after it. */
  const template = (from: number): number => {
    let j = from;
    while (j < text.length && text[j] !== '`' && !(text[j] === '$' && text[j + 1] === '{'))
      j += text[j] === '\\' ? 2 : 1;
    blank(from, Math.min(j, text.length));
    if (text[j] === '$') {
      braces.push(true);
      return j + 2;
    }
    return j + 1;
  };
  while (i < text.length) {
    const c = text[i] as string;
    const n = text[i + 1];
    if (c === '/' && n === '/') {
      const end = text.indexOf('\n', i);
      blank(i, end < 0 ? text.length : end);
      i = end < 0 ? text.length : end;
    } else if (c === '/' && n === '*') {
      const end = text.indexOf('*/', i + 2);
      blank(i, end < 0 ? text.length : end + 2);
      i = end < 0 ? text.length : end + 2;
    } else if (c === "'" || c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== c && text[j] !== '\n') j += text[j] === '\\' ? 2 : 1;
      blank(i + 1, j);
      i = j + 1;
    } else if (c === '`') i = template(i + 1);
    else if (c === '/' && startsRegex(out, i)) {
      const end = regexEnd(text, i);
      blank(i + 1, end);
      i = end + 1;
    } else {
      if (c === '{') braces.push(false);
      else if (c === '}' && braces.pop() === true) {
        i = template(i + 1);
        continue;
      }
      i++;
    }
  }
  return out.join('');
}

/** Function bodies of the source `text` longer than `limit` lines. */
export function longFunctions(text: string, limit: number): FunctionBody[] {
  return functionBodies(blankNonCode(text)).filter((f) => f.lines > limit);
}
