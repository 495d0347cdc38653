/**
 * `npm run bench:compute [-- --steps N] [--no-launch] [--memory]`: single-process training throughput of
 * the built-in mlp and cnn (batch 64, the worker's own step: local gradients, SGD momentum
 * update, weights written back), next to PyTorch on one thread measured in the same run
 * (shared/peers/torch_bench.py, when /usr/bin/python3 has torch); a per-kernel profile of one
 * CNN step; each model also on the pure-wasm kernels (RINGTRAIN_NATIVE_KERNELS=off) when the
 * native matrix product is built, so its gain is measured in the same run; and peak resident
 * memory: of the bench process training the MLP on full MNIST, and of the workers of a real
 * `ringtrain launch --nproc 2` (VmHWM from /proc).
 *
 * Each model runs in a child process of its own, so its peak RSS and JIT state are its own.
 * `--memory` runs only the two peak-RSS measurements (the MLP child and the launch), no peer.
 * Targets from the compute issue: mlp >= 2.0x PyTorch per core, cnn >= 1.0x, worker <= 300 MB.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../src/compute';
import { DEFAULT_JOB } from '../src/config';
import { loadMnist, readRows } from '../src/data';
import { ParamLayout, buildModel, computeGradients, optimizerOf } from '../src/train';
import { TORCH_STEP, blasAllowsRatio, torchBlas, torchPeer } from './launch-run';

const ROOT = path.resolve(__dirname, '../..');
const BATCH = 64;
const PROFILED_STEPS = 10;
const TARGETS: Record<string, number> = { mlp: 2.0, cnn: 1.0 };

interface ChildResult {
  model: string;
  backend: string;
  /** What the heavy kernels ran on ('native-avx2-fma' or 'wasm'). */
  kernels: string;
  steps: number;
  samplesPerSec: number;
  maxRssMB: number;
  /** Per-kernel milliseconds of one profiled step, slowest first (cnn only). */
  profile?: { kernel: string; ms: number; calls: number }[];
  profiledStepMs?: number;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** The child: train `model` for `steps` steps after a warm-up and report. */
async function child(model: string, steps: number): Promise<void> {
  const backend = await selectBackend('auto');
  const data = loadMnist({});
  const features = data.train.features;
  const net = buildModel(
    { ...DEFAULT_JOB.model, kind: model as 'mlp' | 'cnn' },
    [features],
    data.train.classes,
    DEFAULT_JOB.seed,
  );
  const layout = ParamLayout.ofModel(net);
  const params = new Float32Array(layout.size);
  layout.readWeights(params);
  const grads = new Float32Array(layout.size);
  const optimizer = optimizerOf(DEFAULT_JOB.train, layout.size);
  let cursor = 0;
  const batch = new Float32Array(BATCH * features);
  // Consecutive slices of the training set, wrapping, as torch_bench.py takes them, normalized
  // per batch from the bytes as the worker's gatherBatch does.
  const step = (): void => {
    if (cursor + BATCH > data.train.count) cursor = 0;
    const x = readRows(data.train, cursor, cursor + BATCH, batch);
    const y = data.train.labels.subarray(cursor, cursor + BATCH);
    cursor += BATCH;
    computeGradients(net, layout, x, y, BATCH, grads);
    optimizer.step(params, grads, DEFAULT_JOB.train.lr);
    layout.writeWeights(params);
  };
  for (let i = 0; i < 20; i++) step();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < steps; i++) step();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const result: ChildResult = {
    model,
    backend: backend.name,
    kernels: backend.kernels,
    steps,
    samplesPerSec: (steps * BATCH) / seconds,
    maxRssMB: process.resourceUsage().maxRSS / 1024,
  };
  if (model === 'cnn') {
    // Mean over a few profiled steps: one step alone is at the mercy of whatever else runs.
    const byKernel = new Map<string, { ms: number; calls: number }>();
    const t1 = process.hrtime.bigint();
    for (let i = 0; i < PROFILED_STEPS; i++) {
      const info = await tf.profile(() => step());
      for (const k of info.kernels) {
        const e = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
        e.ms += Number(k.kernelTimeMs) / PROFILED_STEPS;
        e.calls += 1 / PROFILED_STEPS;
        byKernel.set(k.name, e);
      }
    }
    result.profiledStepMs = Number(process.hrtime.bigint() - t1) / 1e6 / PROFILED_STEPS;
    result.profile = [...byKernel.entries()].map(([kernel, e]) => ({ kernel, ...e })).sort((a, b) => b.ms - a.ms);
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

function runChild(model: string, steps: number, nativeKernels: boolean): ChildResult {
  const env = {
    ...process.env,
    RINGTRAIN_NATIVE_KERNELS: nativeKernels ? process.env.RINGTRAIN_NATIVE_KERNELS : 'off',
  };
  const out = execFileSync(process.execPath, [__filename, '--child', model, '--steps', String(steps)], {
    encoding: 'utf8',
    timeout: 600_000,
    stdio: ['ignore', 'pipe', 'inherit'],
    env,
  });
  return JSON.parse(out.trim().split('\n').pop() ?? '') as ChildResult;
}

function torch(model: string, steps: number): number | undefined {
  const r = torchPeer(TORCH_STEP, ['--model', model, '--threads', '1', '--steps', String(steps)]);
  return typeof r?.samplesPerSec === 'number' ? r.samplesPerSec : undefined;
}

/** Peak VmHWM (MB) over the worker processes of one `ringtrain launch --nproc 2` of the default MLP job. */
async function launchWorkerPeakMB(steps: number): Promise<number[]> {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-bench-compute-'));
  const launcher = spawn(
    process.execPath,
    [path.join(ROOT, 'bin/ringtrain.js'), 'launch', '--nproc', '2', '--out', out, '--set', `train.maxSteps=${steps}`],
    { stdio: 'ignore' },
  );
  const peaks = new Map<number, number>();
  const poll = setInterval(() => {
    for (const pid of workerPids(launcher.pid ?? -1)) {
      const hwm = /VmHWM:\s+(\d+) kB/.exec(readOr(`/proc/${pid}/status`))?.[1];
      if (hwm !== undefined) peaks.set(pid, Math.max(peaks.get(pid) ?? 0, Number(hwm) / 1024));
    }
  }, 100);
  const code = await new Promise<number | null>((resolve) => launcher.once('exit', resolve));
  clearInterval(poll);
  fs.rmSync(out, { recursive: true, force: true });
  if (code !== 0) throw new Error(`ringtrain launch exited ${code}`);
  return [...peaks.values()];
}

function readOr(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** Descendants of `root` whose command line is a ringtrain worker. */
function workerPids(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readOr(`/proc/${entry}/stat`);
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
  }
  const out: number[] = [];
  const walk = (pid: number): void => {
    for (const c of children.get(pid) ?? []) {
      if (readOr(`/proc/${c}/cmdline`).split('\0').includes('worker')) out.push(c);
      walk(c);
    }
  };
  walk(root);
  return out;
}

async function main(): Promise<void> {
  const only = arg('--child');
  if (only !== undefined) return child(only, Number(arg('--steps') ?? 200));
  const steps: Record<string, number> = { mlp: Number(arg('--steps') ?? 1000), cnn: Number(arg('--steps') ?? 200) };
  const memoryOnly = process.argv.includes('--memory');
  // A ratio only against PyTorch on an optimized BLAS (launch-run.ts says why).
  const withPeer = !memoryOnly && blasAllowsRatio(torchBlas(), 'ringtrain bench compute');
  if (process.exitCode === 2) return;
  const rows: string[] = [];
  let profile: ChildResult | undefined;
  let mlpRss = NaN;
  // Each model on the kernels this install runs (native where built) and, for comparison, on
  // the pure-wasm kernels; PyTorch once per model, between the two.
  const nativeToo = !memoryOnly && process.env.RINGTRAIN_NATIVE_KERNELS !== 'off';
  for (const model of memoryOnly ? ['mlp'] : ['mlp', 'cnn']) {
    const ours = runChild(model, steps[model] as number, true);
    const peer = withPeer ? torch(model, steps[model] as number) : undefined;
    const runs = [ours];
    if (nativeToo && ours.kernels !== 'wasm') runs.push(runChild(model, steps[model] as number, false));
    const target = TARGETS[model] as number;
    for (const r of runs) {
      const ratio = peer === undefined ? undefined : r.samplesPerSec / peer;
      rows.push(
        `| ${model} | ${r.backend} | ${r.kernels} | ${r.samplesPerSec.toFixed(0)} | ${peer?.toFixed(0) ?? '-'} | ${ratio?.toFixed(2) ?? '-'}x | >= ${target.toFixed(1)}x ${ratio === undefined ? '' : ratio >= target ? 'met' : 'MISSED'} | ${r.maxRssMB.toFixed(0)} |`,
      );
    }
    if (model === 'cnn') profile = ours;
    if (model === 'mlp') mlpRss = ours.maxRssMB;
  }
  process.stdout.write(
    `Single-process training, batch ${BATCH}, MNIST (samples/s; PyTorch on 1 thread, same run; load average ${os.loadavg()[0].toFixed(1)})\n`,
  );
  process.stdout.write(
    '| model | backend | kernels | ringtrain | PyTorch | ratio | target | peak RSS MB |\n| --- | --- | --- | ---: | ---: | ---: | --- | ---: |\n',
  );
  process.stdout.write(`${rows.join('\n')}\n`);
  if (profile?.profile !== undefined) {
    const total = profile.profile.reduce((s, k) => s + k.ms, 0);
    process.stdout.write(
      `\nOne CNN step on ${profile.kernels} kernels, per kernel (tf.profile, mean of ${PROFILED_STEPS} steps; ${profile.profiledStepMs?.toFixed(1)} ms wall, ${total.toFixed(1)} ms in kernels)\n`,
    );
    process.stdout.write('| kernel | ms | share | calls |\n| --- | ---: | ---: | ---: |\n');
    for (const k of profile.profile.filter((k) => k.ms >= 0.05))
      process.stdout.write(
        `| ${k.kernel} | ${k.ms.toFixed(2)} | ${((100 * k.ms) / total).toFixed(1)}% | ${k.calls.toFixed(0)} |\n`,
      );
  }
  process.stdout.write(
    `\nPeak RSS training the MLP on full MNIST in one process: ${mlpRss.toFixed(0)} MB (target <= 300)\n`,
  );
  if (!process.argv.includes('--no-launch')) {
    const peaks = await launchWorkerPeakMB(300);
    process.stdout.write(
      `Peak RSS (VmHWM) of the workers of \`ringtrain launch --nproc 2\` (MLP, 300 steps + full evaluation): ${peaks.map((p) => `${p.toFixed(0)} MB`).join(', ')}\n`,
    );
  }
}

void main();
