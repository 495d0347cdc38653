/**
 * Resume equivalence: a run that dies after a checkpoint and is resumed must end with the same
 * weights as a run that never stopped. Exercised with state that makes it hard (AdamW moments
 * and step count, per-step warmup + cosine, 2 ranks, rank 1 starting from other weights), at an
 * epoch boundary and in the middle of an epoch (the sampler position).
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { JobSpec } from '../../src/config';
import { augmenter, type Split } from '../../src/data';
import { listCheckpoints, writeCheckpoint, type Checkpoint } from '../../src/worker/checkpoint-store';
import type { TrainCounters } from '../../src/worker/train-state';
import { mnistSlice, relativeDifference, specWith, trainRanks, type SpecPatch } from './train-harness';

const PATCH: SpecPatch = {
  data: { batchSize: 32 },
  train: {
    epochs: 3,
    optimizer: 'adamw',
    lr: 0.003,
    weightDecay: 0.01,
    clipNorm: 5,
    schedule: { ...specWith({}).train.schedule, name: 'cosine', interval: 'step', warmup: 10, warmupStartFactor: 0.1 },
  },
};

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-resume-'));
class Crash extends Error {}

/** Two ranks train with checkpoints in `dir` and are killed at `step`, as a crash would. */
async function crashAt(step: number, spec: JobSpec, data: { train: Split; val: Split }, dir: string): Promise<void> {
  const crashed = await trainRanks({
    world: 2,
    spec,
    data,
    checkpointDir: dir,
    hooks: () => ({
      onStep: (s) => {
        if (s === step) throw new Crash(`killed at step ${step}`);
      },
    }),
  });
  assert.ok(crashed.every((r) => r.error instanceof Crash));
}

test('a run stopped after epoch 1 and resumed from its checkpoint equals an uninterrupted run', async (t) => {
  const data = await mnistSlice(640, 200);
  const spec = specWith({ ...PATCH, checkpoint: { everyEpochs: 1, everySteps: 0, keep: 2, dir: '' } });
  const straight = await trainRanks({ world: 2, spec, data, checkpointDir: tmp() });
  assert.equal(straight[0]!.error, undefined);

  const dir = tmp();
  // Killed in the first step of epoch 2, after epoch 1's checkpoint.
  await crashAt(11, spec, data, dir);
  assert.deepEqual(
    listCheckpoints(dir).map((c) => c.step),
    [10],
    'one checkpoint, after epoch 1 (10 steps of 2 x 32)',
  );

  const resumed = await trainRanks({ world: 2, spec, data, checkpointDir: dir, resumeFrom: dir });
  assert.equal(resumed[0]!.error, undefined, String(resumed[0]!.error));
  assert.equal(resumed[0]!.result?.steps, 30);
  assert.deepEqual(resumed[0]!.weights, resumed[1]!.weights, 'replicas diverged after resume');
  const rel = relativeDifference(straight[0]!.weights, resumed[0]!.weights);
  t.diagnostic(`relative difference resumed vs uninterrupted: ${rel}`);
  assert.ok(rel <= 1e-5, `relative difference ${rel} exceeds 1e-5`);
  // The resumed run trained epochs 2 and 3 only, and logged where it came from.
  const epochs = resumed[0]!.logs.filter((l) => l.event === 'checkpoint').map((l) => l.epoch);
  assert.deepEqual(epochs, [2, 3]);
  assert.equal(resumed[0]!.logs.find((l) => l.event === 'resumed')?.step, 10);
  // The epoch-3 train metrics match too: same weights, same batches.
  assert.equal(resumed[0]!.result?.last?.train.loss, straight[0]!.result?.last?.train.loss);
});

test('a run stopped mid-epoch resumes from the step checkpoint and continues that epoch from the next batch', async (t) => {
  const data = await mnistSlice(640, 200);
  const spec = specWith({
    ...PATCH,
    train: { ...PATCH.train, epochs: 2 },
    checkpoint: { everyEpochs: 0, everySteps: 4, keep: 5, dir: '' },
  });
  const straight = await trainRanks({ world: 2, spec, data });

  const dir = tmp();
  await crashAt(14, spec, data, dir);
  // Steps 4 and 8 inside epoch 1 (10 steps), 12 inside epoch 2; 14 never got its checkpoint.
  assert.deepEqual(
    listCheckpoints(dir).map((c) => c.step),
    [12, 8, 4],
  );

  const resumed = await trainRanks({ world: 2, spec, data, resumeFrom: dir });
  const from = resumed[0]!.logs.find((l) => l.event === 'resumed');
  assert.deepEqual(
    [from?.step, from?.epoch, from?.batchInEpoch],
    [12, 1, 2],
    'epoch index 1 (the second), 2 batches done',
  );
  assert.deepEqual(resumed[0]!.weights, resumed[1]!.weights);
  const rel = relativeDifference(straight[0]!.weights, resumed[0]!.weights);
  t.diagnostic(`relative difference resumed mid-epoch vs uninterrupted: ${rel}`);
  assert.ok(rel <= 1e-5, `relative difference ${rel} exceeds 1e-5`);
  // The interrupted epoch's train loss covers all its batches (partial sums were checkpointed).
  assert.equal(resumed[0]!.result?.last?.train.samples, straight[0]!.result?.last?.train.samples);
  assert.ok(Math.abs(resumed[0]!.result!.last!.train.loss - straight[0]!.result!.last!.train.loss) < 1e-5);
});

test("the live state a survivor hands a re-formed ring mid-epoch carries the whole old ring's train sums: the epoch line covers every sample", async (t) => {
  const data = await mnistSlice(640, 200);
  const spec = specWith({ ...PATCH, train: { ...PATCH.train, epochs: 2 } });
  const straight = await trainRanks({ world: 2, spec, data });
  // Both ranks stop at step 14 (4 batches into epoch 2); rank 0's snapshot is what it would
  // hand the next ring. Rank 1's sums exist only in what rode the all-reduces.
  let live: Checkpoint | undefined;
  await trainRanks({
    world: 2,
    spec,
    data,
    hooks: (rank, loop) => ({
      onStep: (s) => {
        if (s !== 14) return;
        if (rank === 0) live = loop().snapshot();
        throw new Crash('ring lost at step 14');
      },
    }),
  });
  assert.ok(live !== undefined);
  const meta = live.meta as TrainCounters;
  assert.deepEqual([meta.epoch, meta.batchInEpoch], [1, 4]);
  // 4 steps of 2 ranks x 32 rows: every row of both ranks is in the sums.
  assert.equal(meta.partial[2], 4 * 2 * 32);
  const dir = tmp();
  writeCheckpoint(dir, live, { keep: 1 });
  const resumed = await trainRanks({ world: 2, spec, data, resumeFrom: dir });
  assert.equal(resumed[0]!.error, undefined, String(resumed[0]!.error));
  const [a, b] = [resumed[0]!.result!.last!.train, straight[0]!.result!.last!.train];
  t.diagnostic(`epoch 2 train loss: resumed ${a.loss}, uninterrupted ${b.loss}; samples ${a.samples} / ${b.samples}`);
  assert.equal(a.samples, b.samples);
  assert.equal(a.accuracy, b.accuracy);
  assert.ok(Math.abs(a.loss - b.loss) < 1e-5, `train loss ${a.loss} vs ${b.loss}`);
});

test('with augmentation on, a mid-epoch resume still equals the uninterrupted run (augmentation is seeded per sample)', async () => {
  const data = await mnistSlice(320, 100);
  const spec = specWith({
    data: { batchSize: 32 },
    train: { epochs: 2, optimizer: 'adam', lr: 0.002 },
    checkpoint: { everyEpochs: 0, everySteps: 3, keep: 2, dir: '' },
  });
  const augment = augmenter({ cropPadding: 2, flip: false, rotate: 10, threads: 0 }, [28, 28, 1], -0.4242, spec.seed);
  const straight = await trainRanks({ world: 2, spec, data, augment });
  const dir = tmp();
  await trainRanks({
    world: 2,
    spec,
    data,
    augment,
    checkpointDir: dir,
    hooks: () => ({
      onStep: (s) => {
        if (s === 7) throw new Crash('killed at step 7');
      },
    }),
  });
  const resumed = await trainRanks({ world: 2, spec, data, augment, resumeFrom: dir });
  assert.equal(resumed[0]!.logs.find((l) => l.event === 'resumed')?.step, 6);
  assert.deepEqual(resumed[0]!.weights, straight[0]!.weights);
  // Without augmentation the run ends elsewhere, so augmentation did act.
  const plain = await trainRanks({ world: 2, spec, data });
  assert.ok(relativeDifference(plain[0]!.weights, straight[0]!.weights) > 1e-3);
});

test('resuming from a directory with no checkpoint fails on every rank, rank 0 naming the directory', async () => {
  const data = await mnistSlice(128, 50);
  const empty = tmp();
  const runs = await trainRanks({ world: 2, spec: specWith({ train: { epochs: 1 } }), data, resumeFrom: empty });
  assert.match(String(runs[0]!.error?.message), new RegExp(`--resume ${empty}: no usable checkpoint there`));
  assert.match(String(runs[1]!.error?.message), /--resume \(on rank 0\): no usable checkpoint there/);
});

test('resuming into a model of another shape is refused before training', async () => {
  const data = await mnistSlice(128, 50);
  const dir = tmp();
  await trainRanks({
    world: 1,
    spec: specWith({ train: { epochs: 1 }, checkpoint: { everyEpochs: 1, everySteps: 0, keep: 1, dir: '' } }),
    data,
    checkpointDir: dir,
  });
  const runs = await trainRanks({
    world: 1,
    spec: specWith({ model: { ...specWith({}).model, hidden: [16] }, train: { epochs: 2 } }),
    data,
    resumeFrom: dir,
  });
  assert.match(
    String(runs[0]!.error?.message),
    /holds variables of shapes \[\[784,32\],\[32\],\[32,10\],\[10\]\], but this job's model has \[\[784,16\]/,
  );
});
