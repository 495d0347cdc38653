/**
 * IDX reader (the format MNIST ships in: http://yann.lecun.com/exdb/mnist/).
 *
 * Layout: magic `0x00 0x00 <type> <ndims>`, then `ndims` big-endian int32 dimensions, then the
 * elements in row-major order, multi-byte types big-endian. We validate every length before
 * touching the data so a half-downloaded file fails with the offset and the expected size
 * instead of silently training on zeros.
 */
import { readFileSync } from 'node:fs';
import { RingtrainError } from '../core';

export type IdxDtype = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';

interface IdxDataByDtype {
  uint8: Uint8Array;
  int8: Int8Array;
  int16: Int16Array;
  int32: Int32Array;
  float32: Float32Array;
  float64: Float64Array;
}

/** A parsed IDX tensor; `dtype` discriminates the typed array held in `data`. */
export type IdxArray = {
  [D in IdxDtype]: { dtype: D; shape: number[]; data: IdxDataByDtype[D] };
}[IdxDtype];

/** IDX type code (third magic byte) -> dtype and element size in bytes. */
export const IDX_TYPE_CODES: ReadonlyMap<number, { dtype: IdxDtype; bytes: number }> = new Map([
  [0x08, { dtype: 'uint8', bytes: 1 }],
  [0x09, { dtype: 'int8', bytes: 1 }],
  [0x0b, { dtype: 'int16', bytes: 2 }],
  [0x0c, { dtype: 'int32', bytes: 4 }],
  [0x0d, { dtype: 'float32', bytes: 4 }],
  [0x0e, { dtype: 'float64', bytes: 8 }],
]);

const MAGIC_BYTES = 4;
const DIM_BYTES = 4;

function hex(b: number): string {
  return `0x${b.toString(16).padStart(2, '0')}`;
}

function invalid(name: string, message: string): RingtrainError {
  return new RingtrainError('DATA_INVALID', `${name}: ${message}`);
}

/** Reads and parses an IDX file; errors name the file and the byte offset. */
export function readIdx(path: string): IdxArray {
  return parseIdx(readFileSync(path), path);
}

/**
 * Parses an IDX buffer. `name` is only used in error messages (a path, usually).
 * The returned data never aliases `buf`: Node pools small Buffers, so a view could share
 * memory with unrelated allocations. Except with `adopt`, when the caller gives `buf` away
 * (it will neither reuse nor change it): then uint8 data is a view of it if `buf` owns its whole
 * memory (not pooled), which spares a second copy of a large file while it is loaded.
 */
export function parseIdx(buf: Buffer, name: string, adopt = false): IdxArray {
  if (buf.length < MAGIC_BYTES) {
    throw invalid(
      name,
      `truncated header at byte offset ${buf.length}: the 4-byte magic needs 4 bytes, file has ${buf.length}: is the download incomplete?`,
    );
  }
  if (buf[0] !== 0 || buf[1] !== 0) {
    // gzip starts with 1f 8b: the most common way to hand us a "wrong" file.
    const hint = buf[0] === 0x1f && buf[1] === 0x8b ? ' (this looks gzip-compressed: gunzip it first)' : '';
    throw invalid(
      name,
      `bad magic ${hex(buf[0])} ${hex(buf[1])} at byte offset 0, expected 0x00 0x00: not an IDX file${hint}`,
    );
  }
  const type = IDX_TYPE_CODES.get(buf[2]);
  if (type === undefined) {
    throw invalid(
      name,
      `unknown IDX type code ${hex(buf[2])} at byte offset 2 (known: 0x08 ubyte, 0x09 sbyte, 0x0b short, 0x0c int, 0x0d float, 0x0e double)`,
    );
  }
  const ndims = buf[3];
  if (ndims === 0) {
    throw invalid(name, 'IDX header at byte offset 3 declares 0 dimensions; expected at least 1');
  }
  const headerBytes = MAGIC_BYTES + ndims * DIM_BYTES;
  if (buf.length < headerBytes) {
    throw invalid(
      name,
      `truncated header at byte offset ${buf.length}: ${ndims} dimensions need ${headerBytes} header bytes, file has ${buf.length}: is the download incomplete?`,
    );
  }
  const shape: number[] = [];
  let count = 1;
  for (let d = 0; d < ndims; d++) {
    const offset = MAGIC_BYTES + d * DIM_BYTES;
    const dim = buf.readInt32BE(offset);
    if (dim < 0) {
      throw invalid(name, `dimension ${d} at byte offset ${offset} is negative (${dim})`);
    }
    shape.push(dim);
    count *= dim;
  }
  const expected = headerBytes + count * type.bytes;
  if (buf.length < expected) {
    throw invalid(
      name,
      `expected ${expected} bytes for shape [${shape.join(',')}], file has ${buf.length} (data stops at byte offset ${buf.length}): is the download incomplete?`,
    );
  }
  if (buf.length > expected) {
    throw invalid(
      name,
      `${buf.length - expected} trailing bytes after byte offset ${expected} (shape [${shape.join(',')}] of ${type.dtype} ends there): is this the right file?`,
    );
  }
  return decode(
    buf,
    headerBytes,
    count,
    type.dtype,
    shape,
    adopt && buf.byteOffset === 0 && buf.buffer.byteLength === buf.length,
  );
}

function decode(buf: Buffer, start: number, count: number, dtype: IdxDtype, shape: number[], view: boolean): IdxArray {
  const bytes = new Uint8Array(buf.buffer, buf.byteOffset + start, buf.length - start);
  const dv = new DataView(buf.buffer, buf.byteOffset + start, buf.length - start);
  switch (dtype) {
    case 'uint8':
      return { dtype, shape, data: view ? bytes : bytes.slice() };
    case 'int8':
      return { dtype, shape, data: new Int8Array(bytes.slice().buffer) };
    case 'int16': {
      // DataView reads big-endian regardless of host order; a byte-swap loop would assume LE.
      const data = new Int16Array(count);
      for (let i = 0; i < count; i++) data[i] = dv.getInt16(i * 2, false);
      return { dtype, shape, data };
    }
    case 'int32': {
      const data = new Int32Array(count);
      for (let i = 0; i < count; i++) data[i] = dv.getInt32(i * 4, false);
      return { dtype, shape, data };
    }
    case 'float32': {
      const data = new Float32Array(count);
      for (let i = 0; i < count; i++) data[i] = dv.getFloat32(i * 4, false);
      return { dtype, shape, data };
    }
    case 'float64': {
      const data = new Float64Array(count);
      for (let i = 0; i < count; i++) data[i] = dv.getFloat64(i * 8, false);
      return { dtype, shape, data };
    }
  }
}
