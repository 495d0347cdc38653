/**
 * The DDP contract: W workers with batch B each must train exactly like one worker with batch
 * W x B on the same global sample order, because the mean of the per-rank mean gradients is the
 * mean gradient of the global batch. Runs the worker's real training loop (TrainLoop) over the
 * in-memory ring.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import { DEFAULT_JOB } from '../../src/config';
import type { Split } from '../../src/data';
import { ParamLayout, buildFromLayers, buildMlp } from '../../src/train';
import { mnistSlice, relativeDifference, specWith, trainRanks, writableFloatRows } from './train-harness';

const STEPS = 50;
const GLOBAL_BATCH = 64;

/** Tensors alive after the first and after the last step: a leak per step would show here. */
const tensorCounts: number[][] = [];

async function train(world: number, data: { train: Split; val: Split }): Promise<Float32Array[]> {
  // The default optimizer (SGD, lr 0.01, momentum 0.9) and the default 784-128-10 MLP.
  const spec = specWith({ model: DEFAULT_JOB.model, data: { batchSize: GLOBAL_BATCH / world }, train: { epochs: 1 } });
  const counts: number[] = [];
  const runs = await trainRanks({
    world,
    spec,
    data,
    hooks: (rank) => ({
      onStep: (step) => {
        if (rank === 0 && (step === 1 || step === STEPS)) counts.push(tf.memory().numTensors);
      },
    }),
  });
  tensorCounts.push(counts);
  for (const r of runs) assert.equal(r.result?.steps, STEPS);
  return runs.map((r) => r.weights);
}

test('2 workers x batch 32 reach the same weights as 1 worker x batch 64 after 50 steps', async () => {
  const data = await mnistSlice(STEPS * GLOBAL_BATCH, 100);
  const [single] = await train(1, data);
  const pair = await train(2, data);
  const initial = buildMlp(DEFAULT_JOB.model, data.train.features, data.train.classes, DEFAULT_JOB.seed);
  const start = new Float32Array(single!.length);
  ParamLayout.ofModel(initial).readWeights(start);
  initial.dispose();

  // The weights moved (so the comparison below is not trivially true)...
  assert.ok(
    relativeDifference(single!, start) > 1e-2,
    `training barely changed the weights: ${relativeDifference(single!, start)}`,
  );
  // ...the two replicas are bit-identical...
  assert.deepEqual(pair[0], pair[1]);
  // ...and they match the single worker to float32 accuracy.
  const rel = relativeDifference(single!, pair[0]!);
  assert.ok(rel <= 1e-5, `relative difference ${rel} exceeds 1e-5`);
  for (const [afterFirst, afterLast] of tensorCounts)
    assert.equal(afterLast, afterFirst, 'tensors leaked during training steps');
});

test('a different global sample order gives measurably different weights (the check above can fail)', async () => {
  const data = await mnistSlice(STEPS * GLOBAL_BATCH, 100);
  const [single] = await train(1, data);
  // Reverse the data: same samples, another order.
  const n = data.train.count;
  const rows = writableFloatRows(data.train).images;
  const images = new Float32Array(rows.length);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    images.set(rows.subarray((n - 1 - i) * 784, (n - i) * 784), i * 784);
    labels[i] = data.train.labels[n - 1 - i] as number;
  }
  const reversed: Split = { ...data.train, images, labels, decode: undefined };
  const pair = await train(2, { train: reversed, val: data.val });
  assert.ok(relativeDifference(single!, pair[0]!) > 1e-4);
});

test('batch-norm statistics moved by each rank on its own shard end identical on every rank, and moved', async () => {
  const data = await mnistSlice(1024, 100);
  const spec = specWith({ data: { batchSize: 32 }, train: { epochs: 1 } });
  const body = [{ type: 'dense', units: 16, activation: 'relu' }, { type: 'batchNorm' }];
  const runs = await trainRanks({ world: 2, spec, data, model: (rank) => buildFromLayers(body, [784], 10, 7 + rank) });
  for (const r of runs) assert.equal(r.error, undefined, String(r.error));
  const [a, b] = runs.map((r) => r.buffers) as [Float32Array, Float32Array];
  // Moving mean (16) and moving variance (16) of the one batch-norm layer.
  assert.equal(a.length, 32);
  assert.deepEqual(b, a, 'ranks trained on different shards must still hold the same statistics');
  // They really were updated from the data (initial: mean 0, variance 1).
  assert.ok(
    a.subarray(0, 16).some((m) => Math.abs(m) > 1e-3),
    `moving means ${Array.from(a.subarray(0, 4))}`,
  );
  assert.ok(
    a.subarray(16).some((v) => Math.abs(v - 1) > 1e-3),
    `moving variances ${Array.from(a.subarray(16, 20))}`,
  );
  assert.deepEqual(runs[1]!.weights, runs[0]!.weights);
});

test('gradients read off the device bucket by bucket (boundaries cutting through variables) train exactly like one bucket', async () => {
  const data = await mnistSlice(640, 100);
  const spec = specWith({ data: { batchSize: 32 }, train: { epochs: 1, fusedStep: 'off' } }); // the tfjs step's packing is what this holds
  const one = await trainRanks({ world: 2, spec, data });
  // The 784-32-10 MLP has 25,450 parameters (+1 loss): buckets of 7,000 split the first kernel.
  const packed: number[][] = [];
  const bucketed = await trainRanks({
    world: 2,
    spec,
    data,
    bucketElements: 7_000,
    before: (rank, loop) => {
      if (rank !== 0) return;
      const pack = loop.layout.packRange.bind(loop.layout);
      loop.layout.packRange = (grads, out, start, end, accumulate) => {
        packed.push([start, end]);
        pack(grads, out, start, end, accumulate);
      };
    },
  });
  for (const r of [...one, ...bucketed]) assert.equal(r.error, undefined, String(r.error));
  assert.deepEqual(
    packed.slice(0, 4),
    [
      [0, 7_000],
      [7_000, 14_000],
      [14_000, 21_000],
      [21_000, 25_450],
    ],
    'the first step packs four buckets in order',
  );
  assert.equal(packed.length, 4 * (bucketed[0]!.result?.steps ?? 0));
  assert.deepEqual(bucketed[0]!.weights, one[0]!.weights);
  assert.deepEqual(bucketed[1]!.weights, one[0]!.weights);
});
