import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { blankNonCode, functionBodies, longFunctions } from '../../scripts/function-lengths';

const bodies = (src: string): { name: string; lines: number }[] =>
  functionBodies(blankNonCode(src)).map((f) => ({ name: f.name, lines: f.lines }));

test('finds functions, methods with and without return types, and block arrows, each with its body lines', () => {
  const src = [
    'export async function load(a: number): Promise<{ x: number }> {', // 1
    '  if (a > 0) {',
    '    return { x: a };',
    '  }',
    '  return { x: 0 };',
    '}', // 6
    'class K {',
    '  constructor(private readonly n: number) {}', // 8
    '  get size(): number {',
    '    return this.n;',
    '  }', // 11
    '  step<T>(v: T): T | undefined {',
    '    const f = (y: T) => {',
    '      return y;',
    '    };', // 15
    '    return f(v);',
    '  }', // 17
    '}',
  ].join('\n');
  assert.deepEqual(bodies(src), [
    { name: 'load', lines: 6 },
    { name: 'constructor', lines: 1 },
    { name: 'size', lines: 3 },
    { name: 'arrow function', lines: 3 },
    { name: 'step', lines: 6 },
  ]);
});

test('control blocks, object literals, interface signatures and ternaries are not functions', () => {
  const src = [
    'interface I { f(a: number): void; g(): { a: number }; }',
    'for (const x of xs) { while (x) { switch (x) { case 1: { break; } } } }',
    'try { run(); } catch (e) { log(e); } finally { done(); }',
    'const o = { a: f(1) ? 2 : 3, b: c ? g(x) : { y: 1 } };',
    'if (a) { b(); } else if (c) { d(); } else { e(); }',
  ].join('\n');
  assert.deepEqual(bodies(src), []);
});

test('braces and parentheses in strings, templates, comments and regular expressions do not count', () => {
  const src = [
    'function f(): string {',
    "  const s = '{ ( [';",
    '  const t = `a ${x ? `{${y}` : "}"} (`;',
    '  // } ) ]',
    '  /* } */',
    '  const r = /[)}\\]]+/.test(s) ? 1 / 2 : 3;',
    '  return s + t + r;',
    '}',
  ].join('\n');
  assert.deepEqual(bodies(src), [{ name: 'f', lines: 8 }]);
});

test('longFunctions reports only bodies over the limit, with their first line', () => {
  const long = [
    'function big() {',
    ...Array.from({ length: 81 }, (_, i) => `  call(${i});`),
    '}',
    'function small() {',
    '  return 1;',
    '}',
  ].join('\n');
  const found = longFunctions(long, 80);
  assert.deepEqual(
    found.map((f) => ({ name: f.name, startLine: f.startLine, lines: f.lines })),
    [{ name: 'big', startLine: 1, lines: 83 }],
  );
  assert.deepEqual(longFunctions(long, 83), []);
});
