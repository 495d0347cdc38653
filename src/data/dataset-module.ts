/**
 * A dataset from the user's own code: `data: { dataset: module, module: ./my-data.js }`. The
 * CommonJS module exports `loadData(ctx)` (or a default export) returning
 *
 *   { train: { x, y }, test: { x, y }, task?: 'classification' | 'regression', sampleShape?: number[] }
 *
 * where x is rows of numbers (number[][] or a flat Float32Array with sampleShape) already scaled
 * as the model should see them, and y holds class ids (classification) or target rows
 * (regression). Everything is checked here, with the split and row named in errors.
 */
import * as path from 'node:path';
import { RingtrainError } from '../core';
import { requireUserModule, type DataSpec, type TaskKind } from '../config';
import type { Preprocess } from './preprocess';
import type { Split } from './split';

export interface DataModuleContext {
  trainLimit: number;
  testLimit: number;
}

interface RawSplit {
  x: unknown;
  y: unknown;
}

const invalid = (m: string): RingtrainError => new RingtrainError('DATA_INVALID', m);

function toSplit(
  raw: RawSplit | undefined,
  name: string,
  where: string,
  task: TaskKind,
  features: number | undefined,
  limit: number,
): Split {
  if (raw === undefined || typeof raw !== 'object')
    throw invalid(`${where}: loadData() returned no '${name}' split with { x, y }`);
  let x: Float32Array;
  let f: number;
  if (raw.x instanceof Float32Array) {
    if (features === undefined)
      throw invalid(`${where}: '${name}.x' is a flat Float32Array, so loadData() must also return sampleShape`);
    x = raw.x;
    f = features;
  } else if (Array.isArray(raw.x) && raw.x.length > 0 && Array.isArray(raw.x[0])) {
    const rows = raw.x as unknown[][];
    f = features ?? (rows[0] as unknown[]).length;
    x = new Float32Array(rows.length * f);
    rows.forEach((r, i) => {
      if (!Array.isArray(r) || r.length !== f)
        throw invalid(`${where}: ${name}.x[${i}] has ${Array.isArray(r) ? r.length : 'no'} values, expected ${f}`);
      r.forEach((v, j) => {
        if (typeof v !== 'number' || !Number.isFinite(v))
          throw invalid(`${where}: ${name}.x[${i}][${j}] is ${JSON.stringify(v)}, expected a finite number`);
        x[i * f + j] = v;
      });
    });
  } else {
    throw invalid(`${where}: '${name}.x' must be a non-empty array of rows (number[][]) or a Float32Array`);
  }
  if (x.length % f !== 0) throw invalid(`${where}: '${name}.x' has ${x.length} values, not a multiple of ${f} per row`);
  let count = x.length / f;
  const y = raw.y as ArrayLike<unknown> | undefined;
  if (y === undefined || typeof y !== 'object' || y.length !== count)
    throw invalid(`${where}: '${name}.y' must have one entry per row (${count}), got ${y?.length ?? 'none'}`);
  if (limit > 0) count = Math.min(count, limit);
  const split: Split = {
    images: x.subarray(0, count * f),
    labels: new Int32Array(count),
    count,
    features: f,
    classes: 0,
  };
  if (task === 'classification') {
    for (let i = 0; i < count; i++) {
      const v = y[i];
      if (!Number.isSafeInteger(v) || (v as number) < 0)
        throw invalid(`${where}: ${name}.y[${i}] is ${JSON.stringify(v)}; class ids are integers from 0`);
      split.labels[i] = v as number;
    }
    return split;
  }
  const first = y[0];
  const k = Array.isArray(first) ? first.length : 1;
  const t = new Float32Array(count * k);
  for (let i = 0; i < count; i++) {
    const row = Array.isArray(y[i]) ? (y[i] as unknown[]) : [y[i]];
    if (row.length !== k || !row.every((v) => typeof v === 'number' && Number.isFinite(v)))
      throw invalid(`${where}: ${name}.y[${i}] must be ${k} finite number(s), got ${JSON.stringify(y[i])}`);
    row.forEach((v, j) => (t[i * k + j] = v as number));
  }
  split.targets = t;
  split.classes = k;
  return split;
}

/** Loads `spec.module` and turns what it returns into splits and a (identity) preprocessing. */
export function loadModuleDataset(
  spec: DataSpec,
  baseDir = process.cwd(),
): { train: Split; test: Split; sampleShape: number[]; preprocess: Preprocess } {
  if (spec.module === '')
    throw new RingtrainError(
      'CONFIG_INVALID',
      'data.dataset module needs data.module: the path of a CommonJS module exporting loadData()',
    );
  const where = path.resolve(baseDir, spec.module);
  const mod = requireUserModule(where, 'data module');
  const load = (typeof mod.loadData === 'function' ? mod.loadData : mod.default) as
    ((ctx: DataModuleContext) => unknown) | undefined;
  if (typeof load !== 'function')
    throw new RingtrainError(
      'CONFIG_INVALID',
      `data module ${where} must export a function loadData(ctx); it exports ${Object.keys(mod).join(', ') || 'nothing'}`,
    );
  const out = load({ trainLimit: spec.trainLimit, testLimit: spec.testLimit }) as
    { train?: RawSplit; test?: RawSplit; task?: TaskKind; sampleShape?: number[] } | undefined;
  if (out === undefined || typeof out !== 'object')
    throw invalid(`${where}: loadData() returned ${String(out)}; expected { train: { x, y }, test: { x, y } }`);
  const task = out.task ?? spec.task;
  const shape = out.sampleShape;
  const features = shape?.reduce((a, b) => a * b, 1);
  const train = toSplit(out.train, 'train', where, task, features, spec.trainLimit);
  const test = toSplit(out.test, 'test', where, task, features ?? train.features, spec.testLimit);
  if (test.features !== train.features)
    throw invalid(`${where}: test rows have ${test.features} values, training rows ${train.features}`);
  const classes = task === 'classification' ? Math.max(...train.labels, ...test.labels) + 1 : train.classes;
  train.classes = test.classes = classes;
  const imageShape = shape?.length === 3 ? (shape as [number, number, number]) : undefined;
  if (imageShape !== undefined) train.imageShape = test.imageShape = imageShape;
  const preprocess: Preprocess = {
    kind: imageShape ? 'image' : 'tabular',
    task,
    features: train.features,
    classes,
    scale: 1,
    mean: [0],
    std: [1],
    imageShape,
  };
  return { train, test, sampleShape: shape ?? [train.features], preprocess };
}
