/**
 * Cutting a rank's index list into batches and copying those rows into contiguous buffers.
 *
 * The training loop runs thousands of steps; `gatherBatch` writes into caller-owned buffers so
 * a steady-state step allocates no typed-array memory (the worker wraps them into tensors).
 * Byte rows are normalized here, per batch, into those same buffers (split.ts says why).
 */
import { RingtrainError } from '../core';
import { gatherRows } from './rows';
import type { RowSource } from './split';

export type { RowSource } from './split';

/**
 * A batch: `x` holds `rows * features` floats row-major, `y` holds `rows` labels, and for
 * regression `t` holds `rows * outputs` targets.
 */
export interface Batch {
  x: Float32Array;
  y: Int32Array;
  t?: Float32Array;
}

/**
 * Splits `indices` into consecutive batches of `batchSize`; the last may be smaller.
 * The batches are views into `indices` (no copy): do not mutate `indices` while using them.
 */
export function batchIndices(indices: Int32Array, batchSize: number): Int32Array[] {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RingtrainError('CONFIG_INVALID', `batchSize must be a positive integer, got ${batchSize}`);
  }
  const batches: Int32Array[] = [];
  for (let start = 0; start < indices.length; start += batchSize) {
    batches.push(indices.subarray(start, Math.min(start + batchSize, indices.length)));
  }
  return batches;
}

/**
 * Copies rows `idx` of `split` into `out` as normalized float32 and returns it. If `out` is
 * exactly the right size it is returned as is; if larger (the short last batch) views of its
 * first rows are returned, so the buffers are still reused; if absent or too small, fresh
 * buffers are allocated.
 * Either way `x.length === idx.length * features` so it can be shaped [rows, features].
 */
export function gatherBatch(split: RowSource, idx: Int32Array, out?: Batch): Batch {
  const f = split.features;
  const rows = idx.length;
  const batch = fitBuffers(rows, f, out);
  const { x, y } = batch;
  for (let p = 0; p < rows; p++) {
    const r = idx[p];
    if (!(r >= 0 && r < split.count)) {
      throw new RingtrainError(
        'DATA_INVALID',
        `batch index ${r} at position ${p} is outside the split's ${split.count} rows: was the sampler given the wrong datasetSize?`,
      );
    }
    y[p] = split.labels[r];
  }
  gatherRows(split, idx, f, x);
  const targets = split.targets;
  if (targets !== undefined) {
    const k = split.classes ?? 1;
    if (batch.t === undefined || batch.t.length < rows * k) batch.t = new Float32Array(rows * k);
    const t = batch.t.length === rows * k ? batch.t : (batch.t = batch.t.subarray(0, rows * k));
    for (let p = 0; p < rows; p++)
      for (let j = 0; j < k; j++) t[p * k + j] = targets[(idx[p] as number) * k + j] as number;
  }
  return batch;
}

function fitBuffers(rows: number, features: number, out: Batch | undefined): Batch {
  const n = rows * features;
  if (out === undefined || out.x.length < n || out.y.length < rows) {
    return { x: new Float32Array(n), y: new Int32Array(rows), t: out?.t };
  }
  if (out.x.length === n && out.y.length === rows) return out;
  return { x: out.x.subarray(0, n), y: out.y.subarray(0, rows), t: out.t };
}
