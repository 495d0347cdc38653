/**
 * The project's lint, run before the tests: no `any`, no default exports, no `.only` in tests,
 * no import cycles, and imports that flow one way between the role folders (DESIGN.md):
 * cli -> launcher -> coordinator / worker / report -> allreduce / train -> rpc / compute / data /
 * observe -> native -> config. Also: the coordinator and the collectives never load TensorFlow.js, and
 * train/ and data/ never touch the network.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const RANK: Record<string, number> = {
  core: -1,
  config: 0,
  native: 0.5,
  rpc: 1,
  compute: 1,
  data: 1,
  observe: 1,
  allreduce: 2,
  train: 2,
  coordinator: 3,
  worker: 3,
  record: 2.5,
  report: 2.7,
  launcher: 4,
  cli: 5,
};
const BANNED_PACKAGES: Record<string, RegExp> = {
  coordinator: /^@tensorflow\//,
  allreduce: /^@tensorflow\//,
  rpc: /^@tensorflow\//,
  train: /^(@grpc\/|node:net$|node:http)/,
  data: /^(@grpc\/|@tensorflow\/|node:net$|node:http)/,
};

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
    .replace(/'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|`(?:[^`\\]|\\.)*`/g, (m) => `'${' '.repeat(Math.max(0, m.length - 2))}'`);
}

const problems: string[] = [];
const all = ['src', 'test', 'bench', 'scripts', 'deploy'].flatMap((d) => files(path.join(ROOT, d)));
const graph = new Map<string, string[]>();

for (const file of all) {
  const text = fs.readFileSync(file, 'utf8');
  const code = codeOnly(text);
  const rel = path.relative(ROOT, file);
  code.split('\n').forEach((line, i) => {
    if (/(:\s*any\b|<any>|\bas any\b|\bany\[\])/.test(line)) problems.push(`${rel}:${i + 1}: 'any' is banned: name the type, or use unknown and narrow`);
    if (/\bexport\s+default\b/.test(line)) problems.push(`${rel}:${i + 1}: default export: use a named export`);
    if (/\b(test|it|describe)\.only\s*\(|\bonly:\s*true\b/.test(line)) problems.push(`${rel}:${i + 1}: .only would silently skip the rest of the suite`);
  });
  if (!rel.startsWith('src/')) continue;
  const folder = rel.split('/')[1] as string;
  const deps: string[] = [];
  for (const m of text.matchAll(/(?:from|import)\s+'([^']+)'/g)) {
    const spec = m[1] as string;
    const banned = BANNED_PACKAGES[folder];
    if (banned?.test(spec)) problems.push(`${rel}: ${folder}/ must not import ${spec}`);
    if (!spec.startsWith('.')) continue;
    const base = path.resolve(path.dirname(file), spec);
    const target = [`${base}.ts`, path.join(base, 'index.ts')].find((p) => fs.existsSync(p));
    if (target === undefined) continue;
    deps.push(target);
    const targetFolder = path.relative(ROOT, target).split('/')[1] as string;
    if (targetFolder !== folder && (RANK[targetFolder] ?? 99) >= (RANK[folder] ?? -1)) {
      problems.push(`${rel}: ${folder}/ imports ${targetFolder}/, against the one-way flow (see scripts/lint.ts)`);
    }
  }
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
      const cycle = stack.slice(stack.indexOf(d)).concat(d).map((p) => path.relative(ROOT, p));
      problems.push(`import cycle: ${cycle.join(' -> ')}`);
    } else if (!colour.has(d)) visit(d);
  }
  stack.pop();
  colour.set(f, 'black');
}
for (const f of graph.keys()) if (!colour.has(f)) visit(f);

if (problems.length > 0) {
  process.stderr.write(`lint: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n${problems.map((p) => `  ${p}`).join('\n')}\n`);
  process.exit(1);
}
process.stdout.write(`lint: ${all.length} files clean (no any, no default exports, no .only, no cycles, one-way imports)\n`);
