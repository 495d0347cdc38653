/**
 * How raw input becomes what the model was trained on: `(raw * scale - mean) / std`, with a
 * scalar or per-feature mean/std, plus what the outputs mean (task, class names). Training
 * computes it from the training rows; it is saved next to the exported model
 * (`preprocess.json`), so eval, predict and serve feed the model exactly what it saw.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { RingtrainError } from '../config/errors';
import type { TaskKind } from '../config/job-spec';

export const PREPROCESS_FILE = 'preprocess.json';

export interface Preprocess {
  /** image: rows of pixels; tabular: named numeric columns. */
  kind: 'image' | 'tabular';
  task: TaskKind;
  /** Values per row. */
  features: number;
  /** Classification: number of classes; regression: outputs per row. */
  classes: number;
  /** Raw values are multiplied by this first (1/255 for 8-bit images). */
  scale: number;
  /** One value (all features) or one per feature. */
  mean: number[];
  std: number[];
  imageShape?: [number, number, number];
  featureNames?: string[];
  /** Text labels of a CSV, in class-id order. */
  classNames?: string[];
  target?: string;
}

/** Normalizes `raw` (rows x features) in place: (v * scale - mean) / std. */
export function applyPreprocess(p: Preprocess, raw: Float32Array): Float32Array {
  const f = p.features;
  const perFeature = p.mean.length > 1;
  for (let i = 0; i < raw.length; i++) {
    const j = perFeature ? i % f : 0;
    raw[i] = ((raw[i] as number) * p.scale - (p.mean[j] as number)) / (p.std[j] as number);
  }
  return raw;
}

/** Mean and std of each column of `x` (rows x f) after scaling; a constant column gets std 1. */
export function columnStats(x: Float32Array, f: number, scale = 1): { mean: number[]; std: number[] } {
  const n = x.length / f;
  const mean = new Array<number>(f).fill(0);
  const sq = new Array<number>(f).fill(0);
  for (let i = 0; i < x.length; i++) {
    const v = (x[i] as number) * scale;
    mean[i % f]! += v;
    sq[i % f]! += v * v;
  }
  const std = mean.map((s, j) => {
    const m = s / n;
    const v = (sq[j] as number) / n - m * m;
    return v > 1e-12 ? Math.sqrt(v) : 1;
  });
  return { mean: mean.map((s) => s / n), std };
}

export function savePreprocess(dir: string, p: Preprocess): void {
  writeFileSync(path.join(dir, PREPROCESS_FILE), JSON.stringify(p, null, 1));
}

/** The preprocessing saved with a model; undefined for a model exported without one. */
export function loadPreprocess(dir: string): Preprocess | undefined {
  const file = path.join(dir, PREPROCESS_FILE);
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Preprocess;
  } catch (e) {
    throw new RingtrainError('DATA_INVALID', `${file}: not valid JSON (${(e as Error).message})`);
  }
}
