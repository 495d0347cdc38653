/**
 * A job's data, whatever its source: train / validation / test splits of rows (bytes for 8-bit
 * images, normalized float32 otherwise: split.ts), the shape a model should take, and the
 * preprocessing to save with the model. Validation is either the last `valFraction` of the
 * training rows (Keras' validation_split) or the test set.
 */
import { RingtrainError } from '../core';
import type { DataSpec } from '../config';
import { classCount } from './class-count';
import { csvColumns, readCsv, type CsvTable } from './csv-reader';
import { loadModuleDataset } from './dataset-module';
import { MNIST_FEATURES, MNIST_FILES, loadMnist, mnistPreprocess, readMaybeGzipped } from './mnist';
import { applyPreprocess, byteDecode, columnStats, type Preprocess } from './preprocess';
import { sliceSplit, type Split } from './split';

export interface Dataset {
  train: Split;
  /** Evaluated after every epoch (the held-out rows, or the test set). */
  val: Split;
  test: Split;
  /** Input shape of one sample as the model should declare it. */
  sampleShape: number[];
  preprocess: Preprocess;
}

export function loadDataset(spec: DataSpec): Dataset {
  switch (spec.dataset) {
    case 'mnist':
      return holdOut(spec, mnist(spec));
    case 'idx':
      return holdOut(spec, idx(spec));
    case 'csv':
      return csv(spec);
    case 'module':
      return holdOut(spec, loadModuleDataset(spec));
  }
}

type Loaded = { train: Split; test: Split; sampleShape: number[]; preprocess: Preprocess };

function holdOut(spec: DataSpec, d: Loaded): Dataset {
  if (spec.valFraction === 0) return { ...d, val: d.test };
  const { train, val } = splitTrain(d.train, spec.valFraction);
  return { ...d, train, val };
}

function splitTrain(all: Split, fraction: number): { train: Split; val: Split } {
  const k = Math.floor(all.count * fraction);
  if (k < 1 || k >= all.count) {
    throw new RingtrainError(
      'CONFIG_INVALID',
      `data.valFraction ${fraction} of ${all.count} training rows leaves ${k} for validation and ${all.count - k} for training: both need at least 1`,
    );
  }
  return { train: sliceSplit(all, 0, all.count - k), val: sliceSplit(all, all.count - k, all.count) };
}

function mnist(spec: DataSpec): Loaded {
  const { train, test } = loadMnist({ dir: spec.dir, trainLimit: spec.trainLimit, testLimit: spec.testLimit });
  return { train, test, sampleShape: [MNIST_FEATURES], preprocess: mnistPreprocess() };
}

/** Any torchvision-style raw IDX folder (Fashion-MNIST, KMNIST, ...): same four file names as MNIST. */
function idx(spec: DataSpec): Loaded {
  if (spec.dir === '')
    throw new RingtrainError(
      'CONFIG_INVALID',
      `data.dataset idx needs data.dir: the folder holding ${Object.values(MNIST_FILES).join(', ')}`,
    );
  const rawTrain = idxSplit(spec.dir, MNIST_FILES.trainImages, MNIST_FILES.trainLabels, spec.trainLimit);
  const rawTest = idxSplit(spec.dir, MNIST_FILES.testImages, MNIST_FILES.testLabels, spec.testLimit);
  if (rawTrain.shape.join() !== rawTest.shape.join()) {
    throw new RingtrainError(
      'DATA_INVALID',
      `${spec.dir}: training images are ${JSON.stringify(rawTrain.shape)} but test images are ${JSON.stringify(rawTest.shape)}`,
    );
  }
  const features = rawTrain.shape.reduce((a, b) => a * b, 1);
  const scale = rawTrain.x instanceof Uint8Array ? 1 / 255 : 1;
  // One mean/std over every pixel of the training rows, as torchvision's Normalize((m,), (s,)).
  const stats = columnStats(rawTrain.x, 1, scale);
  const sample = (i: number): string => `sample ${i}`;
  const classes = classCount(
    [
      { name: rawTrain.labelsName, labels: rawTrain.labels, where: sample },
      { name: rawTest.labelsName, labels: rawTest.labels, where: sample },
    ],
    spec.classes,
  );
  const s = rawTrain.shape;
  const imageShape: [number, number, number] | undefined =
    s.length === 2 ? [s[0]!, s[1]!, 1] : s.length === 3 ? [s[0]!, s[1]!, s[2]!] : undefined;
  const preprocess: Preprocess = {
    kind: 'image',
    task: 'classification',
    features,
    classes,
    scale,
    mean: stats.mean,
    std: stats.std,
    imageShape,
  };
  // Bytes stay bytes, normalized per batch; wider types are normalized once, in place.
  const decode = rawTrain.x instanceof Uint8Array ? byteDecode(preprocess) : undefined;
  const split = (r: typeof rawTrain): Split => {
    const meta = { labels: r.labels, count: r.labels.length, features, classes, imageShape };
    if (r.x instanceof Uint8Array && decode !== undefined) return { ...meta, images: r.x, decode };
    if (r.x instanceof Float32Array) return { ...meta, images: applyPreprocess(preprocess, r.x) };
    throw new RingtrainError(
      'DATA_INVALID',
      `${spec.dir}: training and test images differ in type (one is bytes, the other not): use the same IDX type for both`,
    );
  };
  return { train: split(rawTrain), test: split(rawTest), sampleShape: imageShape ?? [features], preprocess };
}

/** One IDX split: uint8 images as their bytes, any other type as float32 (normalized later). */
function idxSplit(
  dir: string,
  imagesFile: string,
  labelsFile: string,
  limit: number,
): { x: Float32Array | Uint8Array; labels: Int32Array; labelsName: string; shape: number[] } {
  const images = readMaybeGzipped(dir, imagesFile);
  const labels = readMaybeGzipped(dir, labelsFile);
  const img = images.idx;
  const lab = labels.idx;
  if (img.shape.length < 2)
    throw new RingtrainError(
      'DATA_INVALID',
      `${images.name}: expected samples of at least one value, shape [n, ...], got [${img.shape.join(',')}]`,
    );
  if (lab.shape.length !== 1 || lab.dtype === 'float32' || lab.dtype === 'float64') {
    throw new RingtrainError(
      'DATA_INVALID',
      `${labels.name}: expected integer labels of shape [n], got ${lab.dtype} [${lab.shape.join(',')}]`,
    );
  }
  if (img.shape[0] !== lab.shape[0]) {
    throw new RingtrainError(
      'DATA_INVALID',
      `${images.name} has ${img.shape[0]} samples but ${labels.name} has ${lab.shape[0]} labels: are they from the same split?`,
    );
  }
  const shape = img.shape.slice(1);
  const f = shape.reduce((a, b) => a * b, 1);
  const n = limit === 0 ? (img.shape[0] as number) : Math.min(limit, img.shape[0] as number);
  // A limited byte split copies its part, so the whole file's bytes can be collected.
  const x =
    img.dtype === 'uint8'
      ? n * f === img.data.length
        ? img.data
        : img.data.slice(0, n * f)
      : Float32Array.from(img.data.subarray(0, n * f) as ArrayLike<number>);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = lab.data[i] as number;
    if (v < 0)
      throw new RingtrainError(
        'DATA_INVALID',
        `${labels.name}: label ${v} of sample ${i} is negative; class ids start at 0`,
      );
    y[i] = v;
  }
  return { x, labels: y, labelsName: labels.name, shape };
}

function csv(spec: DataSpec): Dataset {
  if (spec.trainFile === '')
    throw new RingtrainError('CONFIG_INVALID', 'data.dataset csv needs data.trainFile (a CSV with a header line)');
  if (spec.testFile === '' && spec.valFraction === 0) {
    throw new RingtrainError(
      'CONFIG_INVALID',
      'data.dataset csv needs data.testFile or data.valFraction > 0 to have rows to validate on',
    );
  }
  const limit = <T extends { count: number }>(c: T, n: number): number => (n === 0 ? c.count : Math.min(n, c.count));
  const trainTable = readCsv(spec.trainFile);
  const tr = csvColumns(trainTable, spec.trainFile, spec.target, spec.task, undefined, spec.classes);
  const testTable = spec.testFile === '' ? undefined : readCsv(spec.testFile);
  const te =
    testTable === undefined
      ? undefined
      : csvColumns(testTable, spec.testFile, spec.target, spec.task, tr.classNames, spec.classes);
  if (te !== undefined && te.featureNames.join() !== tr.featureNames.join()) {
    throw new RingtrainError(
      'DATA_INVALID',
      `${spec.testFile}: feature columns ${te.featureNames.join(',')} differ from ${spec.trainFile}'s ${tr.featureNames.join(',')}`,
    );
  }
  const f = tr.featureNames.length;
  const regression = spec.task === 'regression';
  const lineOf =
    (t: CsvTable) =>
    (i: number): string =>
      `line ${t.lines[i]}`;
  const integerLabels = [
    { name: spec.trainFile, labels: tr.labels, where: lineOf(trainTable) },
    ...(te !== undefined && testTable !== undefined
      ? [{ name: spec.testFile, labels: te.labels, where: lineOf(testTable) }]
      : []),
  ];
  const classes = regression
    ? 1
    : tr.classNames !== undefined
      ? Math.max(tr.classNames.length, spec.classes)
      : classCount(integerLabels, spec.classes);
  const toSplit = (c: typeof tr, n: number): Split => {
    const s: Split = {
      images: c.x.subarray(0, n * f),
      labels: c.labels.subarray(0, n),
      count: n,
      features: f,
      classes,
    };
    if (c.targets !== undefined) s.targets = c.targets.subarray(0, n);
    return s;
  };
  let train = toSplit(tr, limit(tr, spec.trainLimit));
  let val: Split | undefined;
  if (spec.valFraction > 0) ({ train, val } = splitTrain(train, spec.valFraction));
  // Per-column standardization from the training rows only (no peeking at validation or test).
  const stats = columnStats(train.images, f);
  const preprocess: Preprocess = {
    kind: 'tabular',
    task: spec.task,
    features: f,
    classes,
    scale: 1,
    mean: stats.mean,
    std: stats.std,
    featureNames: tr.featureNames,
    classNames: tr.classNames,
    target: tr.target,
  };
  applyPreprocess(preprocess, tr.x);
  let test: Split;
  if (te !== undefined) {
    test = toSplit(te, limit(te, spec.testLimit));
    applyPreprocess(preprocess, te.x);
  } else {
    test = val as Split;
  }
  return { train, val: val ?? test, test, sampleShape: [f], preprocess };
}
