import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { BatchPipeline, batchIndices, gatherBatch, type RowSource } from '../../src/data';

const SOURCE: RowSource = {
  images: Float32Array.from({ length: 10 * 3 }, (_, i) => i),
  labels: Int32Array.from({ length: 10 }, (_, i) => i % 4),
  targets: Float32Array.from({ length: 10 }, (_, i) => i / 2),
  count: 10,
  features: 3,
  classes: 1,
};

test('prefetched batches equal gathered ones, including the short last batch and regression targets', () => {
  const order = Int32Array.from([9, 2, 7, 0, 5, 1, 8, 3, 6, 4]);
  const batches = batchIndices(order, 4);
  const p = new BatchPipeline(SOURCE, batches, 4);
  for (let b = 0; b < batches.length; b++) {
    if (b + 1 < batches.length) p.prepare(b + 1);
    const got = p.get(b === 0 ? 0 : b);
    const want = gatherBatch(SOURCE, batches[b]!);
    assert.deepEqual(Array.from(got.x), Array.from(want.x), `batch ${b} x`);
    assert.deepEqual(Array.from(got.y), Array.from(want.y), `batch ${b} y`);
    assert.deepEqual(Array.from(got.t!), Array.from(want.t!), `batch ${b} targets`);
  }
  assert.equal(p.get(2).x.length, 2 * 3, 'the last batch holds 2 rows');
});

test('a batch being trained on is not overwritten while the next one is prepared', () => {
  const batches = batchIndices(Int32Array.from([0, 1, 2, 3, 4, 5]), 2);
  const p = new BatchPipeline(SOURCE, batches, 2, (batch, idx) => batch.x.fill(idx[0]!));
  const current = p.get(0);
  p.prepare(1);
  assert.deepEqual(Array.from(current.x), [0, 0, 0, 0, 0, 0]);
  assert.deepEqual(Array.from(p.get(1).x), [2, 2, 2, 2, 2, 2]);
});
