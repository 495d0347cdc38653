/**
 * Reading a split's rows as the float32 values a model takes, whichever way they are stored
 * (split.ts): the one place that knows how bytes are decoded, so batching, evaluation, reports
 * and benchmarks all see the same numbers.
 */
import { RingtrainError } from '../core';
import { nativeUpdates } from '../native';
import type { ByteDecode, FloatRows, Rows, RowSource, Split } from './split';

/**
 * Decodes `bytes[from, to)` into `out` starting at `at`. `from` must be a multiple of the
 * decode's channel count (any row start is), so the channel of element i is i % channels.
 * Plain loops over typed arrays, no views: the training loop calls this for every row.
 */
export function decodeBytes(
  bytes: Uint8Array,
  decode: ByteDecode,
  from: number,
  to: number,
  out: Float32Array,
  at: number,
): void {
  const { table, channels } = decode;
  if (channels === 1) {
    for (let i = from, o = at; i < to; i++, o++) out[o] = table[bytes[i] as number] as number;
    return;
  }
  for (let i = from, o = at, c = 0; i < to; i++, o++) {
    out[o] = table[(c << 8) | (bytes[i] as number)] as number;
    if (++c === channels) c = 0;
  }
}

/**
 * Rows idx[0], idx[1], ... (each `features` values, indices already checked) into `out`, one
 * after another, decoding bytes. Byte rows go through the native addon when it is built: one
 * call for the batch instead of a JS loop that was a visible part of a small step, with the same
 * table lookup, so the same floats.
 */
export function gatherRows(rows: Rows, idx: Int32Array, features: number, out: Float32Array): void {
  const native = rows.decode === undefined ? undefined : nativeUpdates();
  if (native !== undefined && rows.decode !== undefined) {
    native.gatherDecoded(rows.images, rows.decode.table, rows.decode.channels, idx, features, out);
    return;
  }
  for (let p = 0; p < idx.length; p++)
    copyValues(rows, (idx[p] as number) * features, ((idx[p] as number) + 1) * features, out, p * features);
}

/** Copies values [from, to) of `rows` into `out` at `at`, decoding bytes. */
export function copyValues(rows: Rows, from: number, to: number, out: Float32Array, at: number): void {
  if (rows.decode !== undefined) {
    decodeBytes(rows.images, rows.decode, from, to, out, at);
    return;
  }
  const src = rows.images;
  // A plain loop rather than out.set(src.subarray(...)): subarray would allocate a view per call.
  for (let i = from, o = at; i < to; i++, o++) out[o] = src[i] as number;
}

/**
 * Rows [start, end) of `src` as `(end - start) * features` float32 values, row-major. Float
 * rows come back as a view of the split itself (no copy: do not write to it); byte rows are
 * decoded into `out` (a view of its first values when it is larger), or into a new array when
 * `out` is absent or too small. Either way the result is valid until the next call with `out`.
 */
export function readRows(src: RowSource, start: number, end: number, out?: Float32Array): Float32Array {
  if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= src.count)) {
    throw new RingtrainError('DATA_INVALID', `rows [${start}, ${end}) are outside the split's ${src.count} rows`);
  }
  const f = src.features;
  if (src.decode === undefined) return src.images.subarray(start * f, end * f);
  const n = (end - start) * f;
  const dst = out === undefined || out.length < n ? new Float32Array(n) : out.length === n ? out : out.subarray(0, n);
  decodeBytes(src.images, src.decode, start * f, end * f, dst, 0);
  return dst;
}

/**
 * The split with every row decoded to float32 (a new array for byte rows; the split itself for
 * float rows). For code that wants plain normalized rows at hand, such as tests and one-off
 * model views, not for a worker's training data: that is what the bytes are kept for.
 */
export function floatSplit(s: Split): Split & FloatRows {
  if (s.decode === undefined) return s;
  return { ...s, images: readRows(s, 0, s.count), decode: undefined };
}
