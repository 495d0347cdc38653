import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { batchIndices, gatherBatch, type RowSource } from '../../src/data/batches';
import { RingtrainError } from '../../src/core/errors';

/** 5 rows of 3 features: row r holds [10r, 10r+1, 10r+2] and label r+100. */
function tinySplit(): RowSource {
  const images = new Float32Array(15);
  for (let i = 0; i < 15; i++) images[i] = Math.floor(i / 3) * 10 + (i % 3);
  return { images, labels: Int32Array.from([100, 101, 102, 103, 104]), count: 5, features: 3 };
}

test('cuts indices into full batches and a smaller last one', () => {
  const batches = batchIndices(Int32Array.from([9, 8, 7, 6, 5, 4, 3]), 3);
  assert.deepEqual(
    batches.map((b) => Array.from(b)),
    [[9, 8, 7], [6, 5, 4], [3]],
  );
});

test('gives exact batches when the size divides and none for no indices', () => {
  assert.deepEqual(
    batchIndices(Int32Array.from([1, 2, 3, 4]), 2).map((b) => Array.from(b)),
    [
      [1, 2],
      [3, 4],
    ],
  );
  assert.deepEqual(batchIndices(new Int32Array(0), 4), []);
});

test('rejects a batch size that is not a positive integer', () => {
  assert.throws(
    () => batchIndices(new Int32Array(3), 0),
    (e: unknown) =>
      e instanceof RingtrainError &&
      e.code === 'CONFIG_INVALID' &&
      /batchSize must be a positive integer, got 0/.test(e.message),
  );
});

test('gathers the rows and labels of a batch in index order', () => {
  const { x, y } = gatherBatch(tinySplit(), Int32Array.from([3, 0, 3]));
  assert.deepEqual(Array.from(x), [30, 31, 32, 0, 1, 2, 30, 31, 32]);
  assert.deepEqual(Array.from(y), [103, 100, 103]);
});

test('reuses the output buffers when they fit exactly', () => {
  const split = tinySplit();
  const out = { x: new Float32Array(6), y: new Int32Array(2) };
  const first = gatherBatch(split, Int32Array.from([1, 2]), out);
  assert.equal(first, out);
  const second = gatherBatch(split, Int32Array.from([4, 0]), out);
  assert.equal(second.x, out.x);
  assert.deepEqual(Array.from(out.x), [40, 41, 42, 0, 1, 2]);
  assert.deepEqual(Array.from(out.y), [104, 100]);
});

test('returns views of larger output buffers for a short last batch', () => {
  const out = { x: new Float32Array(6), y: new Int32Array(2) };
  const last = gatherBatch(tinySplit(), Int32Array.from([2]), out);
  assert.equal(last.x.length, 3);
  assert.equal(last.y.length, 1);
  assert.equal(last.x.buffer, out.x.buffer, 'no new memory');
  assert.deepEqual(Array.from(out.x.subarray(0, 3)), [20, 21, 22]);
  assert.equal(out.y[0], 102);
});

test('allocates fresh buffers when the output is too small', () => {
  const out = { x: new Float32Array(3), y: new Int32Array(1) };
  const got = gatherBatch(tinySplit(), Int32Array.from([0, 1]), out);
  assert.notEqual(got.x.buffer, out.x.buffer);
  assert.deepEqual(Array.from(got.x), [0, 1, 2, 10, 11, 12]);
  assert.deepEqual(Array.from(got.y), [100, 101]);
});

test('rejects an index outside the split, naming the index and position', () => {
  assert.throws(
    () => gatherBatch(tinySplit(), Int32Array.from([0, 5])),
    (e: unknown) =>
      e instanceof RingtrainError &&
      e.code === 'DATA_INVALID' &&
      /batch index 5 at position 1 is outside the split's 5 rows/.test(e.message),
  );
});
