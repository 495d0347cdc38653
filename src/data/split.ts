/**
 * One split of a dataset held in memory as flat rows: what batching, sharding, augmentation and
 * evaluation all work on, whatever file format it came from.
 *
 * Rows are stored one of two ways. 8-bit images (MNIST, byte IDX files) stay as their raw bytes
 * and are normalized per batch: MNIST's training set is 47 MB as bytes and 188 MB as float32,
 * and every worker holds a copy. Everything else (CSV, tabular, module datasets, wider IDX
 * types) is held already normalized as float32. Readers go through rows.ts, never `images`
 * directly, so they need not care which.
 */

/**
 * How a stored byte becomes the value the model sees: `table[c * 256 + byte]` with
 * `c = (index in the split) % channels` (for HWC images, the channel; for one shared mean/std,
 * channels is 1). The table is `(byte * scale - mean[c]) / std[c]` from the dataset's
 * `Preprocess` (preprocess.ts `byteDecode`), tabulated so a decoded row is bit-identical to
 * normalizing the whole dataset up front.
 */
export interface ByteDecode {
  channels: number;
  /** `channels * 256` normalized values. */
  table: Float32Array;
}

/** Rows already normalized: `count * features` float32 values, row-major. */
export interface FloatRows {
  images: Float32Array;
  decode?: undefined;
}

/** Rows as raw bytes: `count * features` uint8 values, row-major, normalized by `decode` when read. */
export interface ByteRows {
  images: Uint8Array;
  decode: ByteDecode;
}

/** The rows of a split, either way; `decode` tells which. */
export type Rows = FloatRows | ByteRows;

interface SplitMeta {
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

export type Split = Rows & SplitMeta;

/** The part of a `Split` that batching and evaluation need: any dataset of fixed-width rows. */
export type RowSource = Rows &
  Pick<SplitMeta, 'labels' | 'count' | 'targets' | 'imageShape' | 'features'> & { classes?: number };

/** Rows [start, end) of a split, sharing its memory. */
export function sliceSplit(s: Split, start: number, end: number): Split {
  const a = start * s.features;
  const b = end * s.features;
  const meta = { ...s, labels: s.labels.subarray(start, end), count: end - start };
  const out: Split =
    s.decode === undefined
      ? { ...meta, images: s.images.subarray(a, b), decode: undefined }
      : { ...meta, images: s.images.subarray(a, b), decode: s.decode };
  if (s.targets !== undefined) out.targets = s.targets.subarray(start * s.classes, end * s.classes);
  return out;
}
