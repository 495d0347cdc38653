/**
 * The DDP contract: W workers with batch B each must train exactly like one worker with batch
 * W x B on the same global sample order, because the mean of the per-rank mean gradients is the
 * mean gradient of the global batch. Runs the real step (ddpStep) over the in-memory ring.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import { Communicator, MemoryHub } from '../../src/allreduce';
import { selectBackend } from '../../src/compute';
import { DEFAULT_JOB } from '../../src/config/job-spec';
import { batchIndices, distributedIndices, gatherBatch, loadMnist, type Split } from '../../src/data';
import { ParamLayout, buildMlp } from '../../src/train';
import { ddpStep, syncInitialWeights, type DdpReplica } from '../../src/worker/ddp-step';

const STEPS = 50;
const GLOBAL_BATCH = 64;
const SEED = 42;

function replicas(world: number, train: Split): DdpReplica[] {
  const comms = new MemoryHub('ddp', world).endpoints().map((t) => new Communicator(t));
  return comms.map((comm, rank) => {
    // Rank 1+ start from different weights on purpose: the broadcast must overwrite them.
    const model = buildMlp(DEFAULT_JOB.model, train.features, train.classes, SEED + 1000 * rank);
    const layout = ParamLayout.ofModel(model);
    const optimizer = tf.train.momentum(DEFAULT_JOB.train.lr, DEFAULT_JOB.train.momentum);
    return { model, layout, optimizer, comm, grads: new Float32Array(layout.size) };
  });
}

/** Tensors alive after the first and after the last step: a leak per step would show here. */
const tensorCounts: number[][] = [];

async function train(world: number, train: Split): Promise<Float32Array[]> {
  const reps = replicas(world, train);
  await Promise.all(reps.map((r) => syncInitialWeights(r)));
  const perRank = GLOBAL_BATCH / world;
  const batches = reps.map((_, rank) =>
    batchIndices(distributedIndices({ datasetSize: train.count, worldSize: world, rank, epoch: 0, seed: SEED }), perRank),
  );
  const counts: number[] = [];
  for (let s = 0; s < STEPS; s++) {
    if (s === 1) counts.push(tf.memory().numTensors);
    await Promise.all(
      reps.map((r, rank) => {
        const idx = batches[rank]![s]!;
        const b = gatherBatch(train, idx);
        return ddpStep(r, b.x, b.y, idx.length);
      }),
    );
  }
  counts.push(tf.memory().numTensors);
  tensorCounts.push(counts);
  const out = reps.map((r) => {
    const w = new Float32Array(r.layout.size);
    r.layout.readWeights(w);
    return w;
  });
  for (const r of reps) {
    r.optimizer.dispose();
    r.model.dispose();
  }
  return out;
}

function relativeDifference(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    diff += ((a[i] as number) - (b[i] as number)) ** 2;
    norm += (a[i] as number) ** 2;
  }
  return Math.sqrt(diff) / Math.sqrt(norm);
}

test('2 workers x batch 32 reach the same weights as 1 worker x batch 64 after 50 steps', async () => {
  await selectBackend('wasm');
  const { train: data } = loadMnist({ trainLimit: STEPS * GLOBAL_BATCH, testLimit: 1 });
  const [single] = await train(1, data);
  const pair = await train(2, data);
  const initial = buildMlp(DEFAULT_JOB.model, data.features, data.classes, SEED);
  const start = new Float32Array(single!.length);
  ParamLayout.ofModel(initial).readWeights(start);
  initial.dispose();

  // The weights moved (so the comparison below is not trivially true)...
  assert.ok(relativeDifference(single!, start) > 1e-2, `training barely changed the weights: ${relativeDifference(single!, start)}`);
  // ...the two replicas are bit-identical...
  assert.deepEqual(pair[0], pair[1]);
  // ...and they match the single worker to float32 accuracy.
  const rel = relativeDifference(single!, pair[0]!);
  assert.ok(rel <= 1e-5, `relative difference ${rel} exceeds 1e-5`);
  for (const [afterFirst, afterLast] of tensorCounts) assert.equal(afterLast, afterFirst, 'tensors leaked during training steps');
});

test('a different global sample order gives measurably different weights (the check above can fail)', async () => {
  await selectBackend('wasm');
  const { train: data } = loadMnist({ trainLimit: STEPS * GLOBAL_BATCH, testLimit: 1 });
  const [single] = await train(1, data);
  // Reverse the data: same samples, another order.
  const n = data.count;
  const reversed: Split = { ...data, images: new Float32Array(data.images.length), labels: new Int32Array(n) };
  for (let i = 0; i < n; i++) {
    reversed.images.set(data.images.subarray((n - 1 - i) * 784, (n - i) * 784), i * 784);
    reversed.labels[i] = data.labels[n - 1 - i] as number;
  }
  const pair = await train(2, reversed);
  assert.ok(relativeDifference(single!, pair[0]!) > 1e-4);
});
