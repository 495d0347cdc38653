/**
 * How raw input becomes what the model was trained on: `(raw * scale - mean) / std`, with a
 * scalar or per-feature mean/std, plus what the outputs mean (task, class names). Training
 * computes it from the training rows; it is saved next to the exported model
 * (`preprocess.json`), so eval, predict and serve feed the model exactly what it saw.
 */
import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic, RingtrainError } from '../core';
import * as path from 'node:path';
import type { TaskKind } from '../config';
import type { ByteDecode } from './split';

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

/**
 * Normalizes `raw` (rows x features) in place: (v * scale - mean[c]) / std[c], where c is the
 * feature index modulo the number of means (one mean: all features; one per channel of an HWC
 * image; one per feature).
 */
export function applyPreprocess(p: Preprocess, raw: Float32Array): Float32Array {
  const k = p.mean.length;
  for (let i = 0; i < raw.length; i++) {
    const j = k === 1 ? 0 : i % k;
    raw[i] = ((raw[i] as number) * p.scale - (p.mean[j] as number)) / (p.std[j] as number);
  }
  return raw;
}

/**
 * The decode of 8-bit rows normalized by `p`: the same formula as applyPreprocess, tabulated for
 * the 256 byte values of each channel, so byte rows decode to exactly what normalizing them up
 * front gave.
 */
export function byteDecode(p: Preprocess): ByteDecode {
  const channels = p.mean.length;
  if (channels < 1 || p.std.length !== channels || p.features % channels !== 0) {
    throw new RingtrainError(
      'DATA_INVALID',
      `preprocessing with ${p.mean.length} means and ${p.std.length} stds cannot normalize rows of ${p.features} features: give one mean/std, one per channel or one per feature`,
    );
  }
  const table = new Float32Array(channels * 256);
  for (let c = 0; c < channels; c++) {
    for (let v = 0; v < 256; v++) table[c * 256 + v] = (v * p.scale - (p.mean[c] as number)) / (p.std[c] as number);
  }
  return { channels, table };
}

/** Mean and std of each column of `x` (rows x f) after scaling; a constant column gets std 1. */
export function columnStats(x: Float32Array | Uint8Array, f: number, scale = 1): { mean: number[]; std: number[] } {
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
  writeFileAtomic(path.join(dir, PREPROCESS_FILE), Buffer.from(JSON.stringify(p, null, 1)));
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
