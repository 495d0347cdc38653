/**
 * The project's lint, run before the tests: no `any`, no default exports, no `.only` in tests,
 * no import cycles, no `{ ...o, x }` objects on the step's path, and the layering of src/ (scripts/layering.ts, shown in docs/architecture.md):
 * each folder imports only the folders its row allows, only through their index.ts, and never
 * reaches a package its row bans (the collectives and the coordinator load no TensorFlow.js;
 * train/ and data/ no network). The layer table here and the doc's must agree.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { longFunctions } from './function-lengths';
import { spreadsOnHotPath } from './hot-path-spreads';
import {
  LAYERS,
  importProblem,
  matchesPattern,
  parseLayerTable,
  renderLayerTable,
  tableDifferences,
  tableProblems,
} from './layering';

const ROOT = path.resolve(__dirname, '../..');
const ARCHITECTURE = path.join(ROOT, 'docs', 'architecture.md');

function files(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' || e.name === 'dist' ? [] : files(p);
    return p.endsWith('.ts') && !p.endsWith('.d.ts') ? [p] : [];
  });
}

/** Source text without comments and string contents, so patterns only match code. */
function codeOnly(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, (m) => m.replace(/[^\n]/g, ' '))
    .replace(/\/\/.*$/gm, '')
    .replace(
      /'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|`(?:[^`\\]|\\.)*`/g,
      (m) => `'${' '.repeat(Math.max(0, m.length - 2))}'`,
    );
}

/** Longest function body in src/, in lines, the style allows (STYLE.md: functions short). */
const MAX_FUNCTION_LINES = 80;

const problems: string[] = [];
const all = ['src', 'test', 'bench', 'scripts', 'deploy'].flatMap((d) => files(path.join(ROOT, d)));
const graph = new Map<string, string[]>();
/** Packages each src/ file imports directly. */
const loads = new Map<string, string[]>();

for (const file of all) {
  const text = fs.readFileSync(file, 'utf8');
  const code = codeOnly(text);
  const rel = path.relative(ROOT, file);
  code.split('\n').forEach((line, i) => {
    if (/(:\s*any\b|<any>|\bas any\b|\bany\[\])/.test(line))
      problems.push(`${rel}:${i + 1}: 'any' is banned: name the type, or use unknown and narrow`);
    if (/\bexport\s+default\b/.test(line)) problems.push(`${rel}:${i + 1}: default export: use a named export`);
    if (/\b(test|it|describe)\.only\s*\(|\bonly:\s*true\b/.test(line))
      problems.push(`${rel}:${i + 1}: .only would silently skip the rest of the suite`);
  });
  if (!rel.startsWith('src/')) continue;
  problems.push(...spreadsOnHotPath(rel, code));
  for (const f of longFunctions(text, MAX_FUNCTION_LINES)) {
    problems.push(
      `${rel}:${f.startLine}: ${f.name} is ${f.lines} lines (at most ${MAX_FUNCTION_LINES}): split it into functions named for what they do`,
    );
  }
  const deps: string[] = [];
  const packages: string[] = [];
  for (const m of text.matchAll(/(?:from|import)\s+'([^']+)'/g)) {
    const spec = m[1] as string;
    if (!spec.startsWith('.')) {
      packages.push(spec);
      continue;
    }
    const base = path.resolve(path.dirname(file), spec);
    const target = [`${base}.ts`, path.join(base, 'index.ts')].find((p) => fs.existsSync(p));
    if (target === undefined) continue;
    deps.push(target);
    const problem = importProblem(LAYERS, rel, path.relative(ROOT, target));
    if (problem !== undefined) problems.push(problem);
  }
  loads.set(file, packages);
  graph.set(file, deps);
}

// Cycles: depth-first search with colours; report each back edge as the cycle it closes.
const colour = new Map<string, 'grey' | 'black'>();
const stack: string[] = [];
function visit(f: string): void {
  colour.set(f, 'grey');
  stack.push(f);
  for (const d of graph.get(f) ?? []) {
    if (colour.get(d) === 'grey') {
      const cycle = stack
        .slice(stack.indexOf(d))
        .concat(d)
        .map((p) => path.relative(ROOT, p));
      problems.push(`import cycle: ${cycle.join(' -> ')}`);
    } else if (!colour.has(d)) visit(d);
  }
  stack.pop();
  colour.set(f, 'black');
}
for (const f of graph.keys()) if (!colour.has(f)) visit(f);

// The table: sound, the doc's own, and covering exactly the folders of src/.
problems.push(...tableProblems(LAYERS));
const docDiffs = tableDifferences(LAYERS, parseLayerTable(fs.readFileSync(ARCHITECTURE, 'utf8')));
problems.push(...docDiffs);
if (docDiffs.length > 0) problems.push(`the table as scripts/layering.ts has it:\n${renderLayerTable(LAYERS)}`);
const folders = fs.readdirSync(path.join(ROOT, 'src'), { withFileTypes: true }).filter((e) => e.isDirectory());
for (const f of folders) if (LAYERS[f.name] === undefined) problems.push(`src/${f.name}/ is not in the layer table`);
for (const f of Object.keys(LAYERS)) {
  if (!folders.some((e) => e.name === f)) problems.push(`layer table: src/${f}/ does not exist`);
}

/** The first chain of imports from `start` to a file importing a package `banned` matches. */
function reaches(start: string, banned: readonly string[]): string[] | undefined {
  const from = new Map<string, string>([[start, '']]);
  const queue = [start];
  for (let f = queue.shift(); f !== undefined; f = queue.shift()) {
    const hit = (loads.get(f) ?? []).find((spec) => banned.some((b) => matchesPattern(spec, b)));
    if (hit !== undefined) {
      const chain = [hit];
      for (let at: string | undefined = f; at !== undefined && at !== ''; at = from.get(at)) {
        chain.unshift(path.relative(ROOT, at));
      }
      return chain;
    }
    for (const d of graph.get(f) ?? []) {
      if (from.has(d)) continue;
      from.set(d, f);
      queue.push(d);
    }
  }
  return undefined;
}
const bannedSeen = new Set<string>();
for (const file of graph.keys()) {
  const folder = path.relative(ROOT, file).split('/')[1] as string;
  const chain = reaches(file, LAYERS[folder]?.mustNotLoad ?? []);
  const key = `${folder} ${chain?.at(-1)}`;
  if (chain === undefined || bannedSeen.has(key)) continue;
  bannedSeen.add(key);
  problems.push(`${folder}/ must not load ${chain.at(-1)} (docs/architecture.md), but: ${chain.join(' -> ')}`);
}

if (problems.length > 0) {
  process.stderr.write(
    `lint: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n${problems.map((p) => `  ${p}`).join('\n')}\n`,
  );
  process.exit(1);
}
const checks = `no any, no default exports, no .only, no cycles; layering as in docs/architecture.md; functions in src/ at most ${MAX_FUNCTION_LINES} lines; no spread-then-more objects on the step's path`;
process.stdout.write(`lint: ${all.length} files clean (${checks})\n`);
