/**
 * The layering of src/: which folder may import which, and which packages a folder must never
 * load. docs/architecture.md shows the same table for people; the lint (and a unit test) fail
 * when the two differ, so neither can drift.
 */

export interface LayerRule {
  /** 0 for a leaf; otherwise above every folder it may import. */
  layer: number;
  holds: string;
  mayImport: readonly string[];
  /** Package patterns (`*` = any tail) that no file this folder reaches may import. */
  mustNotLoad: readonly string[];
}

const TFJS = '@tensorflow/*';
const NETWORK = ['@grpc/*', 'node:net', 'node:http*'];

export const LAYERS: Readonly<Record<string, LayerRule>> = {
  core: {
    layer: 0,
    holds: 'errors, crash-safe files, half floats and SIMD sums',
    mayImport: [],
    mustNotLoad: [TFJS, ...NETWORK],
  },
  native: {
    layer: 0,
    holds: "the C++ addon's binding, CPU binding, malloc tuning",
    mayImport: [],
    mustNotLoad: [TFJS, ...NETWORK],
  },
  config: {
    layer: 1,
    holds: 'job spec, defaults, loading, validation',
    mayImport: ['core'],
    mustNotLoad: [TFJS, ...NETWORK],
  },
  observe: {
    layer: 1,
    holds: 'logs, metrics, traces, TensorBoard files, status page',
    mayImport: ['core'],
    mustNotLoad: [TFJS],
  },
  rpc: {
    layer: 2,
    holds: 'proto loading, gRPC options, auth token, TLS credentials',
    mayImport: ['config'],
    mustNotLoad: [TFJS],
  },
  compute: {
    layer: 2,
    holds: 'tfjs backend selection and the wasm kernels',
    mayImport: ['core', 'config', 'native'],
    mustNotLoad: NETWORK,
  },
  data: {
    layer: 2,
    holds: 'datasets, sampling, batching, augmentation',
    mayImport: ['core', 'config', 'native'],
    mustNotLoad: [TFJS, ...NETWORK],
  },
  allreduce: {
    layer: 3,
    holds: 'collectives over a Transport; gRPC, TCP and shared-memory paths',
    mayImport: ['core', 'config', 'native', 'rpc'],
    mustNotLoad: [TFJS],
  },
  train: {
    layer: 3,
    holds: 'models, the training step, optimizers, schedules, losses, export',
    mayImport: ['core', 'config', 'native', 'compute', 'data'],
    mustNotLoad: NETWORK,
  },
  coordinator: {
    layer: 3,
    holds: 'rendezvous and membership decisions, the job, its gRPC service',
    mayImport: ['core', 'config', 'observe', 'rpc'],
    mustNotLoad: [TFJS],
  },
  launcher: {
    layer: 4,
    holds: 'local multi-process launcher: spawn, supervise, restart',
    mayImport: ['core', 'config', 'native', 'allreduce'],
    mustNotLoad: [TFJS],
  },
  record: {
    layer: 4,
    holds: "the live run record: RunRecorder and the run directory's files",
    mayImport: ['core', 'observe', 'train'],
    mustNotLoad: ['@grpc/*'],
  },
  worker: {
    layer: 5,
    holds: 'the training process: join, train, re-join, evaluate, checkpoint',
    mayImport: ['core', 'config', 'native', 'observe', 'rpc', 'compute', 'data', 'allreduce', 'train', 'record'],
    mustNotLoad: [],
  },
  report: {
    layer: 5,
    holds: '`ringtrain report`: plots, PNG and HTML from a finished run',
    mayImport: ['core', 'compute', 'data', 'train', 'record'],
    mustNotLoad: ['@grpc/*'],
  },
  cli: {
    layer: 6,
    holds: '`ringtrain` commands: parse, then call one function',
    mayImport: [
      'core',
      'config',
      'native',
      'observe',
      'compute',
      'data',
      'train',
      'coordinator',
      'launcher',
      'worker',
      'report',
    ],
    mustNotLoad: [],
  },
};

/** True when package `spec` matches `pattern` (`*` matches any tail, e.g. `@tensorflow/*`). */
export function matchesPattern(spec: string, pattern: string): boolean {
  return pattern.endsWith('*') ? spec.startsWith(pattern.slice(0, -1)) : spec === pattern;
}

/** The problems of the table itself: unknown folders, and imports that do not run downwards. */
export function tableProblems(layers: Readonly<Record<string, LayerRule>>): string[] {
  const problems: string[] = [];
  for (const [folder, rule] of Object.entries(layers)) {
    for (const dep of rule.mayImport) {
      const target = layers[dep];
      if (target === undefined) problems.push(`layering: ${folder} may import '${dep}', not a folder of the table`);
      else if (target.layer >= rule.layer) {
        const layers = `${folder} (layer ${rule.layer}) may import ${dep} (layer ${target.layer})`;
        problems.push(`layering: ${layers}: imports must run to lower layers`);
      }
    }
  }
  return problems;
}

/** Why `fromRel` (a file under src/) may not import `targetRel`, or undefined when it may. */
export function importProblem(
  layers: Readonly<Record<string, LayerRule>>,
  fromRel: string,
  targetRel: string,
): string | undefined {
  const from = fromRel.split('/');
  const to = targetRel.split('/');
  const folder = from[1] as string;
  const target = to[1] as string;
  if (from[0] !== 'src' || to[0] !== 'src' || folder === target) return undefined;
  const rule = layers[folder];
  if (rule === undefined) return `${fromRel}: src/${folder}/ is not in the layer table (docs/architecture.md)`;
  if (!rule.mayImport.includes(target)) {
    const allowed = rule.mayImport.join(', ') || 'nothing';
    return `${fromRel}: ${folder}/ may not import ${target}/ (it may import: ${allowed}; docs/architecture.md)`;
  }
  if (to.length !== 3 || to[2] !== 'index.ts') {
    return `${fromRel}: imports ${targetRel}: across folders, import from '../${target}' (its index.ts), not its files`;
  }
  return undefined;
}

const cells = (line: string): string[] =>
  line
    .trim()
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split('|')
    .map((c) => c.trim());
const names = (cell: string): string[] => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string);
const HEADER = ['layer', 'folder', 'holds', 'may import', 'must not load'];

/**
 * The layer table of docs/architecture.md: the markdown table whose header row is
 * `| layer | folder | holds | may import | must not load |`; folders and packages in backticks.
 */
export function parseLayerTable(markdown: string): Record<string, LayerRule> {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l.trim().startsWith('|') && cells(l).join('|') === HEADER.join('|'));
  if (start < 0) throw new Error(`docs/architecture.md has no layer table (header: | ${HEADER.join(' | ')} |)`);
  const table: Record<string, LayerRule> = {};
  for (const line of lines.slice(start + 2)) {
    if (!line.trim().startsWith('|')) break;
    const [layer, folder, holds, mayImport, mustNotLoad] = cells(line);
    const name = names(folder ?? '')[0]
      ?.replace(/^src\//, '')
      .replace(/\/$/, '');
    if (name === undefined) throw new Error(`docs/architecture.md layer table: no folder in row '${line.trim()}'`);
    table[name] = {
      layer: Number(layer),
      holds: holds ?? '',
      mayImport: names(mayImport ?? ''),
      mustNotLoad: names(mustNotLoad ?? ''),
    };
  }
  return table;
}

const sameSet = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((x) => b.includes(x));
const listed = (xs: readonly string[]): string => `[${xs.join(', ')}]`;

/** Each difference between the lint's table and the doc's, as a sentence; empty when they agree. */
export function tableDifferences(
  lint: Readonly<Record<string, LayerRule>>,
  doc: Readonly<Record<string, LayerRule>>,
): string[] {
  const out: string[] = [];
  for (const folder of new Set([...Object.keys(lint), ...Object.keys(doc)])) {
    const a = lint[folder];
    const b = doc[folder];
    if (a === undefined) out.push(`layering: docs/architecture.md lists ${folder}, scripts/layering.ts does not`);
    else if (b === undefined) out.push(`layering: scripts/layering.ts lists ${folder}, docs/architecture.md does not`);
    else {
      const where = (x: string, y: string): string => `${x} in scripts/layering.ts, ${y} in docs/architecture.md`;
      if (a.layer !== b.layer) out.push(`layering: ${folder} is layer ${where(String(a.layer), String(b.layer))}`);
      if (a.holds !== b.holds) out.push(`layering: ${folder} holds ${where(`'${a.holds}'`, `'${b.holds}'`)}`);
      if (!sameSet(a.mayImport, b.mayImport)) {
        out.push(`layering: ${folder} may import ${where(listed(a.mayImport), listed(b.mayImport))}`);
      }
      if (!sameSet(a.mustNotLoad, b.mustNotLoad)) {
        out.push(`layering: ${folder} must not load ${where(listed(a.mustNotLoad), listed(b.mustNotLoad))}`);
      }
    }
  }
  return out;
}

/** The table as docs/architecture.md shows it (the lint's error message prints it for pasting). */
export function renderLayerTable(layers: Readonly<Record<string, LayerRule>>): string {
  const list = (xs: readonly string[]): string => (xs.length === 0 ? '-' : xs.map((x) => `\`${x}\``).join(', '));
  const rows = Object.entries(layers).map(
    ([folder, r]) => `| ${r.layer} | \`src/${folder}\` | ${r.holds} | ${list(r.mayImport)} | ${list(r.mustNotLoad)} |`,
  );
  return [`| ${HEADER.join(' | ')} |`, `|${' --- |'.repeat(HEADER.length)}`, ...rows].join('\n');
}
