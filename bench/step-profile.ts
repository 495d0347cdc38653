/**
 * `npm run bench:profile`: where one training step's microseconds go, layer by layer, for the
 * MLP and the CNN at batch 64: ringtrain's fused step (each layer's forward and backward, the
 * loss) and the rest of a step (gathering the batch, the gradient norm, the SGD update), against
 * torch.profiler's self CPU time per op on the same model (bench/torch_step.py --profile), in
 * one run. Means over the profiled steps, after warm-up steps.
 */
import { selectBackend } from '../src/compute';
import { DEFAULT_JOB } from '../src/config';
import { gatherRows, loadMnist } from '../src/data';
import { lineAlignedFloats } from '../src/native';
import { FusedStep, ParamLayout, buildModel, globalNorm, optimizerOf } from '../src/train';
import { BenchOutput } from './bench-output';
import { TORCH_STEP, blasAllowsRatio, torchBlas, torchPeer } from './launch-run';

const BATCH = 64;
const WARMUP = 50;
const STEPS = Number(process.env.BENCH_STEPS ?? 300);

interface Row {
  what: string;
  us: number;
}

/** Microseconds per step of each part of ringtrain's step on `kind`. */
async function ringtrainProfile(kind: 'mlp' | 'cnn'): Promise<Row[]> {
  await selectBackend('wasm');
  const model = buildModel({ ...DEFAULT_JOB.model, kind }, [784], 10, 1);
  const layout = ParamLayout.ofModel(model);
  const { step, why } = FusedStep.of(model, layout, {});
  if (step === undefined) throw new Error(`no fused step for the ${kind}: ${why}`);
  const { train } = loadMnist({ trainLimit: 60_000, testLimit: 1 });
  const params = lineAlignedFloats(layout.size); // as the training loop allocates it
  layout.readWeights(params);
  const grads = new Float32Array(layout.size);
  const x = new Float32Array(BATCH * 784);
  const idx = new Int32Array(BATCH);
  const y = new Int32Array(BATCH);
  const optimizer = optimizerOf(DEFAULT_JOB.train, layout.size);
  const profile = new Float64Array(2 * step.layers.length + 1);
  const rest = { data: 0, norm: 0, update: 0 };
  const clock = (): number => Number(process.hrtime.bigint()) / 1e9;
  for (let s = 0; s < WARMUP + STEPS; s++) {
    const counting = s >= WARMUP;
    let t = clock();
    for (let i = 0; i < BATCH; i++) idx[i] = (s * BATCH + i * 7919) % train.count;
    gatherRows(train, idx, 784, x);
    for (let i = 0; i < BATCH; i++) y[i] = train.labels[idx[i] as number] as number;
    if (counting) rest.data += clock() - t;
    step.run(params, grads, x, y, BATCH, false, {}, counting ? profile : undefined);
    t = clock();
    globalNorm(grads);
    if (counting) rest.norm += clock() - t;
    t = clock();
    optimizer.step(params, grads, 0.01);
    if (counting) rest.update += clock() - t;
  }
  model.dispose();
  const us = (seconds: number): number => (1e6 * seconds) / STEPS;
  const rows: Row[] = [{ what: 'gather the batch (data)', us: us(rest.data) }];
  step.layers.forEach((name, i) => rows.push({ what: `${name} forward`, us: us(profile[2 * i] as number) }));
  rows.push({ what: 'softmax cross-entropy + its gradient', us: us(profile[2 * step.layers.length] as number) });
  for (let i = step.layers.length - 1; i >= 0; i--)
    rows.push({ what: `${step.layers[i]} backward`, us: us(profile[2 * i + 1] as number) });
  rows.push(
    { what: 'gradient norm (clipping / non-finite check)', us: us(rest.norm) },
    { what: 'SGD update (momentum 0.9)', us: us(rest.update) },
  );
  return rows;
}

function table(title: string, rows: Row[]): string {
  const total = rows.reduce((a, r) => a + r.us, 0);
  const lines = rows.map((r) => `| ${r.what} | ${r.us.toFixed(1)} | ${((100 * r.us) / total).toFixed(1)}% |`);
  return `${title}\n| part | us per step | share |\n| --- | ---: | ---: |\n${lines.join('\n')}\n| total | ${total.toFixed(1)} | |\n`;
}

async function main(): Promise<void> {
  if (process.argv.length > 2) {
    process.stderr.write('usage: ringtrain bench profile   (npm run bench:profile; BENCH_STEPS=300 profiled steps)\n');
    process.exitCode = 2;
    return;
  }
  const blas = torchBlas();
  const withPeer = blasAllowsRatio(blas, 'ringtrain bench profile');
  if (process.exitCode === 2) return;
  const out = new BenchOutput('step-profile', 'npm run bench:profile');
  for (const kind of ['mlp', 'cnn'] as const) {
    const ours = await ringtrainProfile(kind);
    out.write(
      `\n${table(`ringtrain, ${kind}, batch 64, one thread: fused step per layer plus the rest of the step (mean of ${STEPS} steps after ${WARMUP})`, ours)}`,
    );
    if (!withPeer) continue;
    const theirs = torchPeer(TORCH_STEP, [
      '--model',
      kind,
      '--threads',
      '1',
      '--steps',
      String(STEPS),
      '--warmup',
      String(WARMUP),
      '--profile',
    ]);
    const ops = (theirs?.ops as { op: string; selfUsPerStep: number; calls: number }[] | undefined) ?? [];
    const rows = ops
      .filter((o) => o.selfUsPerStep >= 1)
      .map((o) => ({ what: `${o.op} (${o.calls.toFixed(0)} calls)`, us: o.selfUsPerStep }));
    out.write(
      `\n${table(`PyTorch ${kind}, ${blas?.kind ?? ''} BLAS, one thread: torch.profiler self CPU time per op (ops >= 1 us; profiler overhead included)`, rows)}`,
    );
  }
  const saved = out.save();
  if (saved !== undefined) process.stdout.write(`written to ${saved}\n`);
}

void main();
