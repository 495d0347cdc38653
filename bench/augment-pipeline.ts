/**
 * `npm run bench:augment`: what data augmentation costs a training step, inline on the training
 * thread against off it (data.augment.threads), with no augmentation as the baseline, all three
 * measured in one run, interleaved round by round. One rank in process (the real TrainLoop and
 * fused step over the in-memory ring), so the step has no network time to hide the batch
 * preparation behind: the inline figure is the whole cost of augmenting.
 */
import { Registry } from 'prom-client';
import { Communicator, MemoryHub } from '../src/allreduce';
import { selectBackend } from '../src/compute';
import { DEFAULT_JOB, type AugmentSpec, type JobSpec } from '../src/config';
import { loadMnist, startAugmentation, AugmentThreads, type Split } from '../src/data';
import { createLogger, createWorkerMetrics } from '../src/observe';
import { buildModel } from '../src/train';
import { TrainLoop } from '../src/worker';
import { BenchOutput } from './bench-output';
import { median } from './launch-run';

const MODEL = process.env.BENCH_MODEL ?? 'cnn';
const STEPS = Number(process.env.BENCH_STEPS ?? 150);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 20);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
const BATCH = 64;
/** MNIST-style: shift by up to 2 pixels, rotate by up to 10 degrees (no flips for digits). */
const AUGMENT: AugmentSpec = { cropPadding: 2, flip: false, rotate: 10, threads: 0 };

const CONFIGS: { label: string; augment: AugmentSpec }[] = [
  { label: 'no augmentation', augment: { cropPadding: 0, flip: false, rotate: 0, threads: 0 } },
  { label: 'augmentation inline (threads 0)', augment: AUGMENT },
  { label: 'augmentation off-thread (threads 1)', augment: { ...AUGMENT, threads: 1 } },
];

interface Run {
  step: number;
  data: number;
}

/** Mean step seconds and the data part of it over the measured steps of one training run. */
async function trainRun(train: Split, val: Split, augment: AugmentSpec): Promise<Run> {
  const spec: JobSpec = structuredClone(DEFAULT_JOB);
  spec.model = { ...spec.model, kind: MODEL === 'mlp' ? 'mlp' : 'cnn' };
  spec.data = { ...spec.data, batchSize: BATCH, augment };
  spec.train = { ...spec.train, epochs: 1, maxSteps: WARMUP + STEPS };
  spec.checkpoint = { ...spec.checkpoint, everyEpochs: 0 };
  const [transport] = new MemoryHub(spec.name, 1, 10_000).endpoints();
  const comm = new Communicator(transport!, {});
  const log = createLogger({
    job: spec.name,
    role: 'worker',
    rank: 0,
    level: 'warn',
    destination: { write: () => undefined },
  });
  const model = buildModel(spec.model, [784], 10, spec.seed);
  const aug = startAugmentation(augment, train.imageShape, -0.4242, spec.seed, BATCH);
  const seen: Run = { step: 0, data: 0 };
  try {
    const loop = new TrainLoop({
      spec,
      comm,
      model,
      log,
      data: { train, val },
      checkpointDir: '',
      augment: aug,
      shard: { seed: spec.seed, shuffle: true, dropLast: false },
      metrics: createWorkerMetrics(new Registry(), 0, 'wasm'),
      hooks: {
        onStepDetail: (s) => {
          if (s.step <= WARMUP) return;
          seen.step += s.seconds.data + s.seconds.compute + s.seconds.communication + s.seconds.update;
          seen.data += s.seconds.data;
        },
      },
    });
    if (loop.fused === undefined)
      throw new Error(
        `the ${MODEL} has no fused step here (${loop.fusedWhy}): the bench measures the step training uses`,
      );
    await loop.initialize();
    await loop.run();
  } finally {
    model.dispose();
    if (aug instanceof AugmentThreads) await aug.close();
  }
  return { step: seen.step / STEPS, data: seen.data / STEPS };
}

async function main(): Promise<void> {
  const bad = [STEPS, WARMUP, REPEATS].some((v) => !Number.isInteger(v) || v < 1) || !['mlp', 'cnn'].includes(MODEL);
  if (process.argv.length > 2 || bad) {
    process.stderr.write(
      'usage: ringtrain bench augment   (npm run bench:augment; BENCH_MODEL=cnn|mlp, BENCH_STEPS=150, ' +
        'BENCH_WARMUP=20, BENCH_REPEATS=3, all positive integers)\n',
    );
    process.exitCode = 2;
    return;
  }
  await selectBackend('wasm');
  const { train, test } = loadMnist({ trainLimit: 60_000, testLimit: 256 });
  const out = new BenchOutput(
    `augment-${MODEL}`,
    `${MODEL === 'cnn' ? '' : `BENCH_MODEL=${MODEL} `}npm run bench:augment`,
  );
  const runs: Run[][] = CONFIGS.map(() => []);
  for (let r = 0; r < REPEATS; r++) {
    for (let c = 0; c < CONFIGS.length; c++)
      runs[c]!.push(await trainRun(train, test, (CONFIGS[c] as { augment: AugmentSpec }).augment));
  }
  const base = median(runs[0]!.map((x) => x.step));
  out.write(
    `Augmentation (cropPadding 2, rotate 10) on the ${MODEL}, batch ${BATCH}, one rank; ${STEPS} steps after ` +
      `${WARMUP} warm-up, median of ${REPEATS} interleaved rounds\n`,
  );
  out.write(
    '| configuration | step ms | data ms | augmentation cost (share of the step) |\n| --- | ---: | ---: | ---: |\n',
  );
  CONFIGS.forEach((cfg, c) => {
    const step = median(runs[c]!.map((x) => x.step));
    const data = median(runs[c]!.map((x) => x.data));
    const cost = c === 0 ? '-' : `${((100 * (step - base)) / step).toFixed(1)}%`;
    out.write(`| ${cfg.label} | ${(1000 * step).toFixed(3)} | ${(1000 * data).toFixed(3)} | ${cost} |\n`);
  });
  const saved = out.save();
  if (saved !== undefined) process.stdout.write(`saved ${saved}\n`);
}

void main().catch((e: unknown) => {
  process.stderr.write(`ringtrain bench augment: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
