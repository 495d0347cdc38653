/**
 * Byte rows: 8-bit images stay uint8 in memory and are normalized per batch. Every reader must
 * see exactly the values that normalizing the whole dataset up front as float32 gave.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Communicator, MemoryHub } from '../../src/allreduce';
import { selectBackend } from '../../src/compute';
import { kernelSet, nativeUpdates, setNativeKernels } from '../../src/native';
import { DEFAULT_JOB } from '../../src/config';
import {
  MNIST_FEATURES,
  MNIST_MEAN,
  MNIST_STD,
  byteDecode,
  floatSplit,
  gatherBatch,
  loadDataset,
  loadMnist,
  readRows,
  sliceSplit,
  type Preprocess,
  type Split,
} from '../../src/data';
import { buildMlp, evaluateRange } from '../../src/train';
import { evaluateSplit } from '../../src/worker/evaluate-split';

/** Deterministic bytes in 0..255 (a small LCG), so failures reproduce. */
function bytes(n: number, seed: number): Uint8Array {
  let s = seed >>> 0;
  return Uint8Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s >>> 24;
  });
}

function imagePreprocess(shape: [number, number, number], mean: number[], std: number[]): Preprocess {
  const features = shape[0] * shape[1] * shape[2];
  return { kind: 'image', task: 'classification', features, classes: 3, scale: 1 / 255, mean, std, imageShape: shape };
}

/** The same rows two ways: as bytes with a decode, and normalized up front in float32 by the formula itself. */
function twoWays(p: Preprocess, count: number): { bytes: Split; floats: Split } {
  const raw = bytes(count * p.features, 7 + count);
  const k = p.mean.length;
  const normalized = Float32Array.from(raw, (v, i) => (v / 255 - (p.mean[i % k] as number)) / (p.std[i % k] as number));
  const labels = Int32Array.from({ length: count }, (_, i) => i % 3);
  const meta = { labels, count, features: p.features, classes: 3, imageShape: p.imageShape };
  return { bytes: { ...meta, images: raw, decode: byteDecode(p) }, floats: { ...meta, images: normalized } };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

for (const [name, shape, mean, std] of [
  ['1-channel', [6, 5, 1], [0.1307], [0.3081]],
  ['3-channel', [4, 5, 3], [0.4914, 0.4822, 0.4465], [0.247, 0.243, 0.261]],
] as const) {
  test(`a gathered batch of ${name} byte rows equals their float32 normalization to within 1e-6`, () => {
    const p = imagePreprocess([...shape], [...mean], [...std]);
    const { bytes: b, floats: f } = twoWays(p, 40);
    const idx = Int32Array.from([39, 0, 17, 17, 5, 22, 31]);
    const got = gatherBatch(b, idx);
    const want = gatherBatch(f, idx);
    assert.ok(maxAbsDiff(got.x, want.x) <= 1e-6, `max difference ${maxAbsDiff(got.x, want.x)}`);
    assert.deepEqual(Array.from(got.y), Array.from(want.y));
    // A channel mixed up shows as a large difference: check one value of the last channel by hand.
    const c = shape[2] - 1;
    const raw = b.images[39 * p.features + c] as number;
    assert.ok(Math.abs((got.x[c] as number) - (raw / 255 - (mean[c] as number)) / (std[c] as number)) <= 1e-6);
  });

  test(`a gathered batch of ${name} byte rows is the same with and without the native addon`, () => {
    assert.ok(nativeUpdates() !== undefined, `the native addon is not in use: ${kernelSet().why}`);
    const p = imagePreprocess([...shape], [...mean], [...std]);
    const { bytes: b } = twoWays(p, 40);
    const idx = Int32Array.from([39, 0, 17, 17, 5, 22, 31]);
    const native = gatherBatch(b, idx);
    setNativeKernels(false);
    let js: ReturnType<typeof gatherBatch>;
    try {
      js = gatherBatch(b, idx);
    } finally {
      setNativeKernels(true);
    }
    assert.deepEqual(native.x, js.x);
    assert.deepEqual(native.y, js.y);
    // Row 39 really is first: its first value, decoded by hand.
    assert.equal(
      native.x[0],
      Math.fround(((b.images[39 * p.features] as number) / 255 - (mean[0] as number)) / (std[0] as number)),
    );
  });
}

test("gathering byte rows reuses the caller's buffers, views of them for a short last batch", () => {
  const p = imagePreprocess([4, 5, 3], [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]);
  const { bytes: b, floats: f } = twoWays(p, 12);
  const out = { x: new Float32Array(4 * p.features), y: new Int32Array(4) };
  const full = gatherBatch(b, Int32Array.from([3, 1, 4, 1]), out);
  assert.equal(full, out);
  assert.ok(maxAbsDiff(out.x, gatherBatch(f, Int32Array.from([3, 1, 4, 1])).x) <= 1e-6);
  const last = gatherBatch(b, Int32Array.from([11]), out);
  assert.equal(last.x.buffer, out.x.buffer, 'no new memory for the short batch');
  assert.equal(last.x.length, p.features);
  assert.ok(maxAbsDiff(last.x, readRows(f, 11, 12)) <= 1e-6);
});

test('readRows decodes a range of byte rows into the scratch buffer and reads float rows in place', () => {
  const p = imagePreprocess([6, 5, 1], [0.1307], [0.3081]);
  const { bytes: b, floats: f } = twoWays(p, 10);
  const scratch = new Float32Array(5 * p.features);
  const got = readRows(b, 2, 5, scratch);
  assert.equal(got.buffer, scratch.buffer);
  assert.equal(got.length, 3 * p.features);
  const inPlace = readRows(f, 2, 5);
  assert.equal(inPlace.buffer, f.images.buffer, 'float rows are not copied');
  assert.ok(maxAbsDiff(got, inPlace) <= 1e-6);
  assert.throws(() => readRows(b, 8, 11), /rows \[8, 11\) are outside the split's 10 rows/);
});

test("a slice of a byte split keeps bytes and decode, and its rows decode as the original's", () => {
  const p = imagePreprocess([4, 5, 3], [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]);
  const { bytes: b } = twoWays(p, 10);
  const s = sliceSplit(b, 3, 7);
  assert.ok(s.images instanceof Uint8Array);
  assert.equal(s.decode, b.decode);
  assert.deepEqual(Array.from(readRows(s, 0, 4)), Array.from(readRows(b, 3, 7)));
  assert.deepEqual(Array.from(floatSplit(s).images), Array.from(readRows(b, 3, 7)));
});

test("MNIST holds one byte per pixel, and the full training set is a view of its file's buffer, not a copy", () => {
  const { train, test: t } = loadMnist({});
  for (const s of [train, t]) {
    assert.ok(s.images instanceof Uint8Array, 'pixels are bytes');
    assert.equal(s.images.byteLength / s.count, MNIST_FEATURES, 'bytes per sample == features');
    assert.notEqual(s.decode, undefined);
  }
  assert.equal(train.images.byteLength, 60000 * 784);
  // The view of the file's buffer skips the 16-byte IDX header: no second copy while loading.
  assert.equal(train.images.byteOffset, 16);
  const limited = loadMnist({ trainLimit: 100, testLimit: 10 }).train;
  assert.equal(limited.images.buffer.byteLength, 100 * 784, 'a limited split keeps only its own bytes');
  const d = loadDataset({ ...DEFAULT_JOB.data, trainLimit: 100, testLimit: 10, valFraction: 0.2 });
  assert.ok(
    d.train.images instanceof Uint8Array && d.val.images instanceof Uint8Array && d.test.images instanceof Uint8Array,
  );
});

test('MNIST bytes decode to exactly the values the float32 loader used to hold', () => {
  const { train } = loadMnist({ trainLimit: 50, testLimit: 1 });
  // The former loader's table: (v / 255 - mean) / std per pixel, in float32.
  const old = Float32Array.from(train.images, (v) => (v / 255 - MNIST_MEAN) / MNIST_STD);
  assert.deepEqual(Array.from(readRows(train, 0, train.count)), Array.from(old));
});

test('evaluating a small MNIST slice gives the same sums from bytes as from the float32 rows, alone and split over 2 ranks', async () => {
  await selectBackend('wasm');
  const { test: bytesSplit } = loadMnist({ trainLimit: 1, testLimit: 300 });
  const floats: Split = {
    ...bytesSplit,
    images: Float32Array.from(bytesSplit.images, (v) => (v / 255 - MNIST_MEAN) / MNIST_STD),
    decode: undefined,
  };
  const model = buildMlp({ ...DEFAULT_JOB.model, hidden: [32] }, MNIST_FEATURES, 10, 3);
  try {
    // Batches of 128 over 300 rows: the scratch buffer is reused and the last batch is short.
    const want = evaluateRange(model, floats, 0, 300, 128);
    const got = evaluateRange(model, bytesSplit, 0, 300, 128);
    assert.deepEqual(got, want);
    assert.equal(want.count, 300);
    assert.ok(want.lossSum > 0 && Number.isFinite(want.lossSum));

    const hub = new MemoryHub('uint8-eval', 2, 10_000);
    const metrics = await Promise.all(
      hub.endpoints().map((t) => evaluateSplit(model, bytesSplit, new Communicator(t))),
    );
    for (const m of metrics) {
      assert.equal(m.samples, 300);
      assert.ok(
        Math.abs(m.loss - want.lossSum / 300) <= 1e-5 * Math.abs(want.lossSum / 300),
        `loss ${m.loss} vs ${want.lossSum / 300}`,
      );
      assert.equal(m.accuracy, want.correct / 300);
    }
  } finally {
    model.dispose();
  }
});
