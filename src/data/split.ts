/**
 * One split of a dataset held in memory as flat rows: what batching, sharding, augmentation and
 * evaluation all work on, whatever file format it came from.
 */

export interface Split {
  /** `count * features` floats, row-major, one sample per row (already normalized). */
  images: Float32Array;
  /** Classification: `count` class ids in 0..classes-1. Regression: `count` zeros. */
  labels: Int32Array;
  /** Regression only: `count * classes` target values, row-major. */
  targets?: Float32Array;
  count: number;
  features: number;
  /** Classification: number of classes. Regression: number of target values per row. */
  classes: number;
  /** Images only: [height, width, channels] of one row (augmentation needs it). */
  imageShape?: [number, number, number];
}

/** Rows [start, end) of a split, sharing its memory. */
export function sliceSplit(s: Split, start: number, end: number): Split {
  const out: Split = {
    ...s,
    images: s.images.subarray(start * s.features, end * s.features),
    labels: s.labels.subarray(start, end),
    count: end - start,
  };
  if (s.targets !== undefined) out.targets = s.targets.subarray(start * s.classes, end * s.classes);
  return out;
}
