import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { DEFAULT_JOB } from '../../src/config';
import { floatSplit, loadDataset } from '../../src/data';

function idx(type: number, shape: number[], data: Uint8Array): Buffer {
  const header = Buffer.alloc(4 + 4 * shape.length);
  header[2] = type;
  header[3] = shape.length;
  shape.forEach((d, i) => header.writeInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(data)]);
}

/** A Fashion-MNIST-style folder: 6 training and 2 test images of 4x4 pixels, 3 classes; test gzipped. */
function fakeIdxDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-idx-'));
  const px = (n: number): Uint8Array => Uint8Array.from({ length: n * 16 }, (_, i) => (i * 37) % 256);
  fs.writeFileSync(path.join(dir, 'train-images-idx3-ubyte'), idx(0x08, [6, 4, 4], px(6)));
  fs.writeFileSync(path.join(dir, 'train-labels-idx1-ubyte'), idx(0x08, [6], Uint8Array.from([0, 1, 2, 0, 1, 2])));
  fs.writeFileSync(path.join(dir, 't10k-images-idx3-ubyte.gz'), gzipSync(idx(0x08, [2, 4, 4], px(2))));
  fs.writeFileSync(path.join(dir, 't10k-labels-idx1-ubyte.gz'), gzipSync(idx(0x08, [2], Uint8Array.from([2, 1]))));
  return dir;
}

test('a generic IDX folder loads as images of [4,4,1] normalized to mean 0, std 1 over the training pixels', () => {
  const d = loadDataset({ ...DEFAULT_JOB.data, dataset: 'idx', dir: fakeIdxDir() });
  assert.equal(d.train.count, 6);
  assert.equal(d.test.count, 2);
  assert.equal(d.val, d.test, 'valFraction 0 validates on the test set');
  assert.equal(d.train.classes, 3);
  assert.deepEqual(d.sampleShape, [4, 4, 1]);
  assert.deepEqual(d.train.imageShape, [4, 4, 1]);
  assert.ok(d.train.images instanceof Uint8Array, 'byte IDX images stay bytes in memory');
  const x = floatSplit(d.train).images;
  const mean = x.reduce((a, b) => a + b, 0) / x.length;
  const std = Math.sqrt(x.reduce((a, b) => a + (b - mean) ** 2, 0) / x.length);
  assert.ok(Math.abs(mean) < 1e-5 && Math.abs(std - 1) < 1e-5, `mean ${mean}, std ${std}`);
  assert.equal(d.preprocess.scale, 1 / 255);
  // Raw pixel 0 of the first image is 0: (0 - mean) / std with the saved constants.
  assert.ok(Math.abs(x[0]! - -d.preprocess.mean[0]! / d.preprocess.std[0]!) < 1e-6);
  assert.deepEqual(Array.from(d.test.labels), [2, 1]);
});

test('valFraction holds out the last training rows for validation', () => {
  const d = loadDataset({ ...DEFAULT_JOB.data, dataset: 'idx', dir: fakeIdxDir(), valFraction: 0.34 });
  assert.equal(d.train.count, 4);
  assert.equal(d.val.count, 2);
  assert.deepEqual(Array.from(d.val.labels), [1, 2]);
  assert.equal(d.test.count, 2);
  assert.throws(
    () => loadDataset({ ...DEFAULT_JOB.data, dataset: 'idx', dir: fakeIdxDir(), valFraction: 0.1 }),
    /leaves 0 for validation/,
  );
});

test('the MNIST preset keeps its tutorial constants and the flat [784] input', () => {
  const d = loadDataset({ ...DEFAULT_JOB.data, trainLimit: 100, testLimit: 10, valFraction: 0.2 });
  assert.deepEqual(d.sampleShape, [784]);
  assert.deepEqual([d.train.count, d.val.count, d.test.count], [80, 20, 10]);
  assert.deepEqual([d.preprocess.mean, d.preprocess.std, d.preprocess.scale], [[0.1307], [0.3081], 1 / 255]);
  assert.throws(() => loadDataset({ ...DEFAULT_JOB.data, dataset: 'idx' }), /data.dataset idx needs data.dir/);
});

test('a dataset module supplies rows and labels; bad returns are refused naming the split and row', () => {
  const d = loadDataset({
    ...DEFAULT_JOB.data,
    dataset: 'module',
    module: path.resolve(__dirname, '../../../examples/my-data.js'),
    trainLimit: 100,
    testLimit: 20,
  });
  assert.deepEqual([d.train.count, d.test.count, d.train.features, d.train.classes], [100, 20, 2, 2]);
  assert.deepEqual(d.sampleShape, [2]);
  assert.deepEqual(Array.from(d.train.labels.subarray(0, 4)), [0, 1, 0, 1]);
  assert.equal(d.val, d.test);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-datamod-'));
  fs.writeFileSync(
    path.join(dir, 'bad.js'),
    'exports.loadData = () => ({ train: { x: [[1, 2], [3]], y: [0, 1] }, test: { x: [[1, 2]], y: [0] } });',
  );
  assert.throws(
    () => loadDataset({ ...DEFAULT_JOB.data, dataset: 'module', module: path.join(dir, 'bad.js') }),
    /bad\.js: train\.x\[1\] has 1 values, expected 2/,
  );
  fs.writeFileSync(
    path.join(dir, 'labels.js'),
    'exports.loadData = () => ({ train: { x: [[1], [2]], y: [0, -1] }, test: { x: [[1]], y: [0] } });',
  );
  assert.throws(
    () => loadDataset({ ...DEFAULT_JOB.data, dataset: 'module', module: path.join(dir, 'labels.js') }),
    /train\.y\[1\] is -1; class ids are integers from 0/,
  );
  assert.throws(() => loadDataset({ ...DEFAULT_JOB.data, dataset: 'module' }), /data.dataset module needs data.module/);
});

test('a TypeScript dataset module is loaded with its types stripped', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-datamod-ts-'));
  fs.writeFileSync(
    path.join(dir, 'xor.ts'),
    [
      'interface Rows { x: number[][]; y: number[] }',
      'const rows = (n: number): Rows => ({ x: Array.from({ length: n }, (_, i) => [i % 2, (i >> 1) % 2]), y: Array.from({ length: n }, (_, i) => (i % 2) ^ ((i >> 1) % 2)) });',
      'export function loadData(): { train: Rows; test: Rows } { return { train: rows(8), test: rows(4) }; }',
    ].join('\n'),
  );
  const d = loadDataset({ ...DEFAULT_JOB.data, dataset: 'module', module: path.join(dir, 'xor.ts') });
  assert.deepEqual([d.train.count, d.test.count, d.train.features, d.train.classes], [8, 4, 2, 2]);
  assert.deepEqual(Array.from(d.train.labels), [0, 1, 1, 0, 0, 1, 1, 0]);
});
