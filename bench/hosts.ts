/**
 * `ringtrain bench hosts`: training across simulated hosts (sim-hosts.ts: network namespaces on
 * a bridge, tbf-capped links) for each link rate, model, transport and wire dtype, against one
 * worker alone and against PyTorch DDP (gloo) over the same links in the same run.
 * `ringtrain bench hosts down` removes namespaces a killed run left behind.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { netnsRefusal, removeStaleHosts, withHosts, type SimHosts } from './sim-hosts';
import { BenchOutput } from './bench-output';
import { launchAcross, oneWorkerIn, steadySamplesPerSec, torchAcross, torchPeerAvailable } from './hosts-run';

const USAGE = `usage: ringtrain bench hosts [--nnodes 2] [--nproc 1] [--rates 10000,1000] [--models mlp,cnn]
                            [--transports grpc,tcp] [--compression none,fp16] [--hierarchy auto,flat] [--overlap auto,on,off] [--no-torch]
                            [--steps N] [--epochs E] [--warmup W]
       ringtrain bench hosts down      (removes namespaces of runs that were killed)
Makes --nnodes network namespaces on a bridge, each link capped by tbf at --rates Mbit/s, and
runs launch --nnodes across them (--nproc workers per host), one worker alone in a host, and the
PyTorch DDP peer (gloo, one rank per host; with fp16, also with torch's fp16_compress_hook) over
the same links. --hierarchy: with --nproc 2, each host's pair sums first and one worker per host
crosses the link (auto), or one flat ring over every worker (flat). --overlap: the fused step's
backward pass overlapped with the all-reduce (on), not (off), or as a trial of both decides (auto;
train.overlapBackward). --steps: one worker's batches of
64 per epoch (mlp 600, cnn 120; the same data for every row); --epochs/--warmup: epochs per run
and how many are left out (mlp 8/5, cnn 5/2). Needs root (ip netns); removes everything it made,
also when interrupted.
`;

interface Options {
  nnodes: number;
  nproc: number;
  rates: number[];
  models: string[];
  transports: string[];
  compression: string[];
  hierarchy: string[];
  overlap: string[];
  torch: boolean;
  steps?: number;
  epochs?: number;
  warmup?: number;
}

/** How long the one-worker baseline may run. */
const ONE_WORKER_DEADLINE_MS = 1_800_000;

const LIST_FLAGS: Record<string, keyof Options> = {
  '--rates': 'rates',
  '--models': 'models',
  '--transports': 'transports',
  '--compression': 'compression',
  '--hierarchy': 'hierarchy',
  '--overlap': 'overlap',
};
const NUMBER_FLAGS: Record<string, keyof Options> = {
  '--nnodes': 'nnodes',
  '--nproc': 'nproc',
  '--steps': 'steps',
  '--epochs': 'epochs',
  '--warmup': 'warmup',
};

export function parseHostsArgs(argv: readonly string[]): Options {
  const o: Options = {
    nnodes: 2,
    nproc: 1,
    rates: [10_000, 1_000],
    models: ['mlp', 'cnn'],
    transports: ['grpc', 'tcp'],
    compression: ['none', 'fp16'],
    hierarchy: ['auto'],
    overlap: ['auto'],
    torch: true,
  };
  const rec = o as unknown as Record<string, unknown>;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] as string;
    const value = argv[i + 1];
    if (flag === '--no-torch') {
      o.torch = false;
      continue;
    }
    const key = LIST_FLAGS[flag] ?? NUMBER_FLAGS[flag];
    if (key === undefined || value === undefined) throw new Error(`unknown flag or missing value: '${flag}'`);
    i++;
    if (key === 'rates') rec[key] = value.split(',').map(Number);
    else if (LIST_FLAGS[flag] !== undefined) rec[key] = value.split(',');
    else rec[key] = Number(value);
  }
  const bad = [
    ...o.rates.filter((r) => !(r > 0)).map((r) => `--rates: ${r} is not a rate in Mbit/s`),
    ...o.models
      .filter((m) => !['mlp', 'cnn', 'resnet'].includes(m))
      .map((m) => `--models: '${m}' is not mlp, cnn or resnet`),
    ...o.transports.filter((t) => !['grpc', 'tcp'].includes(t)).map((t) => `--transports: '${t}' is not grpc or tcp`),
    ...o.compression
      .filter((c) => !['none', 'fp16', 'bf16'].includes(c))
      .map((c) => `--compression: '${c}' is not none, fp16 or bf16`),
    ...o.hierarchy.filter((c) => !['auto', 'flat'].includes(c)).map((c) => `--hierarchy: '${c}' is not auto or flat`),
    ...o.overlap
      .filter((c) => !['auto', 'on', 'off'].includes(c))
      .map((c) => `--overlap: '${c}' is not auto, on or off`),
    ...(['nnodes', 'nproc', 'steps', 'epochs', 'warmup'] as const)
      .filter((k) => o[k] !== undefined && !(Number.isInteger(o[k]) && (o[k] as number) >= (k === 'warmup' ? 0 : 1)))
      .map((k) => `--${k} must be a positive integer, got ${o[k]}`),
  ];
  if (bad.length > 0) throw new Error(bad.join('; '));
  return o;
}

interface Plan {
  steps: number;
  epochs: number;
  warmup: number;
}

function planFor(model: string, o: Options): Plan {
  // A two-rank MLP job reaches its steady step only after ~1500 steps: the warm-up is long.
  const steps = o.steps ?? (model === 'mlp' ? 600 : 120);
  const epochs = o.epochs ?? (model === 'mlp' ? 8 : 5);
  const warmup = o.warmup ?? (model === 'mlp' ? 5 : 2);
  if (warmup >= epochs) throw new Error(`--warmup ${warmup} leaves no measured epoch of ${epochs}`);
  return { steps, epochs, warmup };
}

const jobSet = (model: string, p: Plan, extra: string[]): string[] => [
  `model.kind=${model}`,
  `data.trainLimit=${p.steps * 64}`,
  `train.epochs=${p.epochs}`,
  'data.testLimit=200',
  ...extra,
];

/**
 * Each simulated host believes its cores are its own, but all hosts share this machine's: with
 * more workers than cores, a rank that spins for its same-host peer (cluster.pollMicros, 2 ms)
 * takes the CPU the ranks it waits for need. What a user sets on a busy node (docs/architecture.md).
 */
export function oversubscribed(o: Options, cpus = os.availableParallelism()): string[] {
  return o.nproc > 1 && o.nnodes * o.nproc > cpus ? ['cluster.pollMicros=100'] : [];
}

/** One worker alone in host 0 (no link crossed): the base of the scaling efficiency. */
async function oneWorker(h: SimHosts, model: string, p: Plan, base: string): Promise<number> {
  return steadySamplesPerSec(
    await oneWorkerIn(h, jobSet(model, p, []), path.join(base, 'one'), ONE_WORKER_DEADLINE_MS),
    p.warmup,
  );
}

/**
 * `world` one-worker jobs at once, spread over the hosts, none talking to another: their summed
 * samples/s over `world` times one job alone is what this machine's shared CPUs allow a job of
 * that many workers before any link is crossed (simulated hosts share its cores).
 */
async function loneWorkersAtOnce(h: SimHosts, model: string, p: Plan, base: string, world: number): Promise<number> {
  const runs = Array.from({ length: world }, (_, i) =>
    oneWorkerIn(h, jobSet(model, p, []), path.join(base, `lone-${i}`), ONE_WORKER_DEADLINE_MS, i % h.hosts.length),
  );
  const rates = (await Promise.all(runs)).map((dir) => steadySamplesPerSec(dir, p.warmup));
  return rates.reduce((a, b) => a + b, 0);
}

/** torch DDP's samples/s on these links: fp32 wire, and fp16_compress_hook when fp16 rows run. */
async function torchRates(h: SimHosts, model: string, p: Plan, o: Options): Promise<{ fp32?: number; fp16?: number }> {
  if (!o.torch || !torchPeerAvailable()) return {};
  const steps = Math.max(10, Math.round((p.steps * (p.epochs - p.warmup)) / o.nnodes));
  const fp32 = await torchAcross(h, model, steps, 900_000);
  const fp16 = o.compression.includes('fp16') ? await torchAcross(h, model, steps, 900_000, true) : undefined;
  return { fp32, fp16 };
}

async function rowsForRate(h: SimHosts, rate: number, o: Options, print: (cells: string[]) => void): Promise<void> {
  const link = rate >= 1000 ? `${rate / 1000} Gbit/s` : `${rate} Mbit/s`;
  const world = o.nnodes * o.nproc;
  for (const model of o.models) {
    const p = planFor(model, o);
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-hosts-'));
    try {
      const one = await oneWorker(h, model, p, base);
      const torch = await torchRates(h, model, p, o);
      print([link, model, '1 worker alone', one.toFixed(0), '', '']);
      const lone = await loneWorkersAtOnce(h, model, p, base, world);
      print([
        link,
        model,
        `ceiling: ${world} lone workers at once (no link; the CPUs they share)`,
        lone.toFixed(0),
        `${((100 * lone) / (world * one)).toFixed(0)}%`,
        '',
      ]);
      for (const transport of o.transports) {
        for (const wire of o.compression) {
          // A hierarchy needs two workers on a host and a transport that reaches any rank (grpc).
          const tree = o.nproc === 2 && transport === 'grpc';
          for (const hierarchy of tree ? o.hierarchy : ['auto']) {
            for (const overlap of o.overlap) {
              const dir = path.join(base, `${transport}-${wire}-${hierarchy}-${overlap}`);
              const set = [
                ...oversubscribed(o),
                `cluster.transport=${transport}`,
                `cluster.compression=${wire}`,
                `cluster.hierarchy=${hierarchy}`,
                `train.overlapBackward=${overlap}`,
              ];
              const run = await launchAcross(h, o.nproc, jobSet(model, p, set), dir, 1_800_000);
              const rate2 = steadySamplesPerSec(run.outDir, p.warmup);
              const against = wire === 'fp16' ? torch.fp16 : wire === 'none' ? torch.fp32 : undefined;
              const vsTorch =
                against === undefined
                  ? '-'
                  : `${(rate2 / against).toFixed(2)}x${wire === 'fp16' ? ' (vs fp16 hook)' : ''}`;
              const how = `${o.nproc === 2 ? `, ${tree && hierarchy === 'auto' ? 'hierarchical' : 'flat ring'}` : ''}${o.overlap.length > 1 ? `, overlap ${overlap}` : ''}`;
              print([
                link,
                model,
                `${o.nnodes} hosts x ${o.nproc}, ${transport}, ${wire === 'none' ? 'fp32' : wire} wire${how}`,
                rate2.toFixed(0),
                `${((100 * rate2) / (world * one)).toFixed(0)}%`,
                vsTorch,
              ]);
            }
          }
        }
      }
      const torchScaling = (r: number): string =>
        `${((100 * r) / (o.nnodes * one)).toFixed(0)}% (of ringtrain's 1 worker)`;
      if (torch.fp32 !== undefined)
        print([
          link,
          model,
          `torch DDP gloo ${o.nnodes} x 1, fp32 wire`,
          torch.fp32.toFixed(0),
          torchScaling(torch.fp32),
          '1.00x',
        ]);
      if (torch.fp16 !== undefined)
        print([
          link,
          model,
          `torch DDP gloo ${o.nnodes} x 1, fp16_compress_hook`,
          torch.fp16.toFixed(0),
          torchScaling(torch.fp16),
          '1.00x',
        ]);
    } finally {
      fs.rmSync(base, { recursive: true, force: true });
    }
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) return void process.stdout.write(USAGE);
  if (argv[0] === 'down') {
    const gone = removeStaleHosts();
    return void process.stdout.write(
      gone.length === 0 ? 'no namespaces of a killed run were left\n' : `removed ${gone.join(', ')}\n`,
    );
  }
  let o: Options;
  try {
    o = parseHostsArgs(argv);
  } catch (e) {
    process.stderr.write(`ringtrain bench hosts: ${(e as Error).message}\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  const refused = netnsRefusal();
  if (refused !== undefined) {
    process.stderr.write(
      `ringtrain bench hosts: ${refused}; it needs root (CAP_SYS_ADMIN) to make network namespaces\n`,
    );
    process.exitCode = 1;
    return;
  }
  const name = o.nproc > 1 ? `hosts-${o.nnodes}x${o.nproc}` : 'hosts';
  const out = new BenchOutput(name, `ringtrain bench hosts${argv.length > 0 ? ` ${argv.join(' ')}` : ''}`);
  out.write(
    `samples/s of the whole job (mean of the epochs after the warm-up). This machine's CPU is shared: compare rows of one run, as ratios.\n`,
  );
  out.write(
    '| link | model | run | samples/s | scaling vs 1 worker | vs torch DDP |\n| --- | --- | --- | ---: | ---: | ---: |\n',
  );
  const print = (cells: string[]): void => out.write(`| ${cells.join(' | ')} |\n`);
  for (const rate of o.rates) {
    await withHosts(o.nnodes, rate, async (h) => {
      out.write(`(${o.nnodes} hosts at ${rate} Mbit/s)\n`);
      // On stdout only (the docs' copy need not name them): where to look, or what to remove.
      process.stdout.write(`(namespaces ${h.prefix}*)\n`);
      for (const note of h.notes) out.write(`(note: ${note})\n`);
      await rowsForRate(h, rate, o, print);
    });
  }
  const saved = out.save();
  if (saved !== undefined) process.stdout.write(`saved ${saved}\n`);
}

if (require.main === module) void main();
