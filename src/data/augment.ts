/**
 * Training-time image augmentation on normalized rows, in torchvision's order: RandomCrop with
 * zero padding, RandomHorizontalFlip, RandomRotation (bilinear). Each sample's randomness comes
 * from (seed, epoch, sample index) alone, not from a stream, so the batches of a resumed run are
 * exactly those of an uninterrupted one and no rank depends on another's draws.
 */
import { RingtrainError } from '../core';
import type { AugmentSpec } from '../config';
import type { Batch } from './batches';
import type { BatchTransform } from './prefetch';
import { fmix32 } from './distributed-sampler';

export type ImageShape = [number, number, number];

export function augmentEnabled(a: AugmentSpec): boolean {
  return a.cropPadding > 0 || a.flip || a.rotate > 0;
}

/** A mulberry32 stream for one sample of one epoch; yields floats in [0, 1). */
export function sampleRandom(seed: number, epoch: number, index: number): () => number {
  let a = fmix32(fmix32(fmix32(seed >>> 0) ^ epoch) ^ index) | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Shifts the image by (dx, dy) - padding, filling what comes from outside: one random crop of the padded image. */
export function cropPadded(
  src: Float32Array,
  dst: Float32Array,
  [h, w, c]: ImageShape,
  padding: number,
  dx: number,
  dy: number,
  fill: number,
): void {
  for (let y = 0; y < h; y++) {
    const sy = y + dy - padding;
    for (let x = 0; x < w; x++) {
      const sx = x + dx - padding;
      const inside = sy >= 0 && sy < h && sx >= 0 && sx < w;
      for (let k = 0; k < c; k++) dst[(y * w + x) * c + k] = inside ? (src[(sy * w + sx) * c + k] as number) : fill;
    }
  }
}

export function flipHorizontal(src: Float32Array, dst: Float32Array, [h, w, c]: ImageShape): void {
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let k = 0; k < c; k++) dst[(y * w + x) * c + k] = src[(y * w + (w - 1 - x)) * c + k] as number;
}

/** Rotates counter-clockwise by `degrees` about the center, bilinear, `fill` outside (torchvision's convention). */
export function rotate(
  src: Float32Array,
  dst: Float32Array,
  [h, w, c]: ImageShape,
  degrees: number,
  fill: number,
): void {
  const t = (degrees * Math.PI) / 180;
  const cos = Math.cos(t);
  const sin = Math.sin(t);
  const cx = (w - 1) / 2;
  const cy = (h - 1) / 2;
  const at = (x: number, y: number, k: number): number =>
    x >= 0 && x < w && y >= 0 && y < h ? (src[(y * w + x) * c + k] as number) : fill;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      // Where this output pixel comes from: the inverse rotation of its position.
      const sx = cx + (x - cx) * cos - (y - cy) * sin;
      const sy = cy + (x - cx) * sin + (y - cy) * cos;
      const x0 = Math.floor(sx + 1e-9);
      const y0 = Math.floor(sy + 1e-9);
      const fx = Math.max(0, sx - x0);
      const fy = Math.max(0, sy - y0);
      for (let k = 0; k < c; k++) {
        const top = at(x0, y0, k) * (1 - fx) + (fx > 1e-9 ? at(x0 + 1, y0, k) * fx : 0);
        const bottom = fy > 1e-9 ? at(x0, y0 + 1, k) * (1 - fx) + (fx > 1e-9 ? at(x0 + 1, y0 + 1, k) * fx : 0) : 0;
        dst[(y * w + x) * c + k] = top * (1 - fy) + bottom * fy;
      }
    }
  }
}

/**
 * The augmentation of one epoch as a batch transform for BatchPipeline. `fill` is the normalized
 * value of a black (raw 0) pixel, so padding looks like it does in torchvision (pad, then normalize).
 */
export function augmenter(
  a: AugmentSpec,
  shape: ImageShape | undefined,
  fill: number,
  seed: number,
): ((epoch: number) => BatchTransform) | undefined {
  if (!augmentEnabled(a)) return undefined;
  const rows = rowAugmenter(a, requireShape(shape), fill, seed);
  return (epoch) => (batch: Batch, idx: Int32Array) => rows(batch.x, idx, epoch);
}

export function requireShape(shape: ImageShape | undefined): ImageShape {
  if (shape === undefined) {
    throw new RingtrainError(
      'CONFIG_INVALID',
      'data.augment (cropPadding, flip, rotate) works on images only, but this dataset has no image shape: set them to 0/false for tabular data',
    );
  }
  return shape;
}

/**
 * Augments rows `x` (one per entry of `idx`, the samples' dataset indices) in place. The one
 * implementation both the inline transform and the augmentation threads run, so the two give
 * the same bits.
 */
export function rowAugmenter(
  a: AugmentSpec,
  shape: ImageShape,
  fill: number,
  seed: number,
): (x: Float32Array, idx: Int32Array, epoch: number) => void {
  const size = shape[0] * shape[1] * shape[2];
  const tmpA = new Float32Array(size);
  const tmpB = new Float32Array(size);
  return (x, idx, epoch) => {
    for (let p = 0; p < idx.length; p++) {
      const rnd = sampleRandom(seed, epoch, idx[p] as number);
      const row = x.subarray(p * size, (p + 1) * size);
      let cur: Float32Array = row;
      let spare: Float32Array = tmpA;
      if (a.cropPadding > 0) {
        const span = 2 * a.cropPadding + 1;
        cropPadded(cur, spare, shape, a.cropPadding, Math.floor(rnd() * span), Math.floor(rnd() * span), fill);
        [cur, spare] = [spare, cur === row ? tmpB : cur];
      }
      if (a.flip && rnd() < 0.5) {
        flipHorizontal(cur, spare, shape);
        [cur, spare] = [spare, cur === row ? tmpB : cur];
      }
      if (a.rotate > 0) {
        rotate(cur, spare, shape, (2 * rnd() - 1) * a.rotate, fill);
        [cur, spare] = [spare, cur === row ? tmpB : cur];
      }
      if (cur !== row) row.set(cur);
    }
  };
}
