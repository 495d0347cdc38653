/**
 * Gradient accumulation is DDP's no_sync: k micro-batches add up locally and the ring runs once
 * per optimizer step. Since the loss is a per-batch mean, averaging k micro-batch gradients of
 * equal size equals the gradient of their union, so batch 16 x 4 must train like batch 64.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { mnistSlice, relativeDifference, specWith, trainRanks } from './train-harness';

const STEPS = 20;

test('batch 16 x 4 accumulated micro-steps equals batch 64 after 20 steps, with one all-reduce per step', async (t) => {
  const data = await mnistSlice(STEPS * 64, 200);
  const base = { train: { epochs: 1, optimizer: 'sgd' as const, lr: 0.05, momentum: 0.9 } };
  const [big] = await trainRanks({ world: 1, spec: specWith({ ...base, data: { batchSize: 64 } }), data });
  const [acc] = await trainRanks({
    world: 1,
    spec: specWith({ ...base, data: { batchSize: 16 }, train: { ...base.train, accumulate: 4 } }),
    data,
  });
  assert.equal(big!.result?.steps, STEPS);
  assert.equal(acc!.result?.steps, STEPS);
  assert.equal(acc!.gradientAllReduces, STEPS, 'accumulated micro-batches must not all-reduce');
  const rel = relativeDifference(big!.weights, acc!.weights);
  t.diagnostic(`relative difference 16 x 4 vs 64: ${rel}`);
  assert.ok(rel <= 1e-5, `relative difference ${rel} exceeds 1e-5`);
  // Same data, but not accumulated: 80 smaller steps end somewhere else (the check can fail).
  const [small] = await trainRanks({ world: 1, spec: specWith({ ...base, data: { batchSize: 16 } }), data });
  assert.equal(small!.result?.steps, STEPS * 4);
  assert.ok(relativeDifference(big!.weights, small!.weights) > 1e-3);
});

test('2 ranks x batch 8 x 4 micro-steps with AdamW equals 1 rank x batch 64', async (t) => {
  const data = await mnistSlice(STEPS * 64, 200);
  const base = { train: { epochs: 1, optimizer: 'adamw' as const, lr: 0.002, weightDecay: 0.01 } };
  const [single] = await trainRanks({ world: 1, spec: specWith({ ...base, data: { batchSize: 64 } }), data });
  const pair = await trainRanks({
    world: 2,
    spec: specWith({ ...base, data: { batchSize: 8 }, train: { ...base.train, accumulate: 4 } }),
    data,
  });
  assert.deepEqual(pair[0]!.weights, pair[1]!.weights, 'replicas diverged');
  assert.equal(pair[0]!.gradientAllReduces, STEPS);
  const rel = relativeDifference(single!.weights, pair[0]!.weights);
  t.diagnostic(`relative difference 2 x 8 x 4 vs 64: ${rel}`);
  assert.ok(rel <= 1e-5, `relative difference ${rel} exceeds 1e-5`);
});

test('an epoch whose batch count is not a multiple of k ends with one shorter accumulated step', async () => {
  // 10 batches of 16 per epoch, accumulate 4: steps of 4, 4 and 2 micro-batches.
  const data = await mnistSlice(160, 100);
  const [r] = await trainRanks({
    world: 1,
    spec: specWith({ data: { batchSize: 16 }, train: { epochs: 2, accumulate: 4 } }),
    data,
  });
  assert.equal(r!.result?.steps, 6);
  assert.equal(r!.gradientAllReduces, 6);
  assert.equal(r!.result?.last?.train.samples, 160);
});
