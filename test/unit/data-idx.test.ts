import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseIdx, readIdx } from '../../src/data/idx-reader';
import { RingtrainError } from '../../src/core/errors';

type Writer = (view: DataView, offset: number, value: number) => void;

/** Builds an IDX buffer by hand, writing multi-byte elements big-endian as the format requires. */
function buildIdx(typeCode: number, shape: number[], values: number[], bytes: number, write: Writer): Buffer {
  const header = 4 + 4 * shape.length;
  const buf = Buffer.alloc(header + values.length * bytes);
  buf[2] = typeCode;
  buf[3] = shape.length;
  shape.forEach((d, i) => buf.writeInt32BE(d, 4 + 4 * i));
  const view = new DataView(buf.buffer, buf.byteOffset, buf.length);
  values.forEach((v, i) => write(view, header + i * bytes, v));
  return buf;
}

function rejectsWith(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof RingtrainError, `expected RingtrainError, got ${String(e)}`);
    assert.equal(e.code, 'DATA_INVALID');
    assert.match(e.message, pattern);
    return true;
  });
}

test('parses unsigned bytes with their shape', () => {
  const buf = buildIdx(0x08, [2, 3], [0, 1, 127, 128, 254, 255], 1, (v, o, x) => v.setUint8(o, x));
  const arr = parseIdx(buf, 'u8.idx');
  assert.equal(arr.dtype, 'uint8');
  assert.deepEqual(arr.shape, [2, 3]);
  assert.ok(arr.data instanceof Uint8Array);
  assert.deepEqual(Array.from(arr.data), [0, 1, 127, 128, 254, 255]);
});

test('parses signed bytes including negatives', () => {
  const buf = buildIdx(0x09, [4], [-128, -1, 0, 127], 1, (v, o, x) => v.setInt8(o, x));
  const arr = parseIdx(buf, 'i8.idx');
  assert.equal(arr.dtype, 'int8');
  assert.ok(arr.data instanceof Int8Array);
  assert.deepEqual(Array.from(arr.data), [-128, -1, 0, 127]);
});

test('converts big-endian shorts to host order', () => {
  const buf = buildIdx(0x0b, [3], [-32768, 258, 32767], 2, (v, o, x) => v.setInt16(o, x, false));
  assert.deepEqual([buf[buf.length - 6], buf[buf.length - 5]], [0x80, 0x00], 'fixture is big-endian');
  const arr = parseIdx(buf, 'i16.idx');
  assert.equal(arr.dtype, 'int16');
  assert.deepEqual(Array.from(arr.data), [-32768, 258, 32767]);
});

test('converts big-endian ints to host order', () => {
  const values = [-2147483648, -1, 16909060, 2147483647];
  const buf = buildIdx(0x0c, [2, 2], values, 4, (v, o, x) => v.setInt32(o, x, false));
  assert.deepEqual(Array.from(buf.subarray(4 + 8 + 8, 4 + 8 + 12)), [1, 2, 3, 4], '16909060 is 01 02 03 04 on disk');
  const arr = parseIdx(buf, 'i32.idx');
  assert.equal(arr.dtype, 'int32');
  assert.deepEqual(arr.shape, [2, 2]);
  assert.ok(arr.data instanceof Int32Array);
  assert.deepEqual(Array.from(arr.data), values);
});

test('converts big-endian floats to host order', () => {
  const values = [1.5, -0.25, 3.1415927410125732, 1e-30];
  const buf = buildIdx(0x0d, [1, 4], values, 4, (v, o, x) => v.setFloat32(o, x, false));
  const arr = parseIdx(buf, 'f32.idx');
  assert.equal(arr.dtype, 'float32');
  assert.ok(arr.data instanceof Float32Array);
  assert.deepEqual(Array.from(arr.data), Array.from(new Float32Array(values)));
});

test('converts big-endian doubles to host order', () => {
  const values = [Math.PI, -1e300, 0.1];
  const buf = buildIdx(0x0e, [3], values, 8, (v, o, x) => v.setFloat64(o, x, false));
  const arr = parseIdx(buf, 'f64.idx');
  assert.equal(arr.dtype, 'float64');
  assert.deepEqual(Array.from(arr.data), values);
});

test('returns data that does not alias the input buffer', () => {
  const buf = buildIdx(0x08, [2], [7, 9], 1, (v, o, x) => v.setUint8(o, x));
  const arr = parseIdx(buf, 'u8.idx');
  buf[buf.length - 1] = 0;
  assert.deepEqual(Array.from(arr.data), [7, 9]);
});

test('reads a file from disk', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ringtrain-idx-'));
  try {
    const file = path.join(dir, 'x.idx');
    writeFileSync(
      file,
      buildIdx(0x0c, [2], [1, -2], 4, (v, o, x) => v.setInt32(o, x, false)),
    );
    const arr = readIdx(file);
    assert.deepEqual(Array.from(arr.data), [1, -2]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('rejects a bad magic naming the file and offset 0', () => {
  const buf = buildIdx(0x08, [1], [1], 1, (v, o, x) => v.setUint8(o, x));
  buf[1] = 0x03;
  rejectsWith(() => parseIdx(buf, 'bad.idx'), /^bad\.idx: bad magic 0x00 0x03 at byte offset 0/);
});

test('recognises a gzip file passed as IDX and says to gunzip it', () => {
  const buf = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0]);
  rejectsWith(() => parseIdx(buf, 'x.gz'), /gzip-compressed/);
});

test('rejects an unknown type code at byte offset 2', () => {
  const buf = buildIdx(0x08, [1], [1], 1, (v, o, x) => v.setUint8(o, x));
  buf[2] = 0x0a;
  rejectsWith(() => parseIdx(buf, 'odd.idx'), /^odd\.idx: unknown IDX type code 0x0a at byte offset 2/);
});

test('rejects a header cut off inside the dimensions', () => {
  const buf = buildIdx(0x08, [60000, 28, 28], [], 1, (v, o, x) => v.setUint8(o, x)).subarray(0, 10);
  rejectsWith(
    () => parseIdx(buf, 'h.idx'),
    /^h\.idx: truncated header at byte offset 10: 3 dimensions need 16 header bytes, file has 10/,
  );
});

test('rejects a truncated file with the expected size, shape and offset', () => {
  const header = buildIdx(0x08, [60000, 28, 28], [], 1, (v, o, x) => v.setUint8(o, x));
  const buf = Buffer.concat([header, Buffer.alloc(1000 - header.length)]);
  rejectsWith(
    () => parseIdx(buf, 'train-images-idx3-ubyte'),
    /^train-images-idx3-ubyte: expected 47040016 bytes for shape \[60000,28,28\], file has 1000 \(data stops at byte offset 1000\): is the download incomplete\?$/,
  );
});

test('rejects a truncated multi-byte payload', () => {
  const buf = buildIdx(0x0d, [3], [1, 2, 3], 4, (v, o, x) => v.setFloat32(o, x, false));
  rejectsWith(
    () => parseIdx(buf.subarray(0, buf.length - 2), 'f.idx'),
    /expected 20 bytes for shape \[3\], file has 18/,
  );
});

test('rejects trailing garbage naming where the data should end', () => {
  const buf = buildIdx(0x08, [2], [1, 2], 1, (v, o, x) => v.setUint8(o, x));
  const padded = Buffer.concat([buf, Buffer.from([9, 9, 9])]);
  rejectsWith(() => parseIdx(padded, 't.idx'), /^t\.idx: 3 trailing bytes after byte offset 10/);
});

test('rejects a file shorter than the magic', () => {
  rejectsWith(() => parseIdx(Buffer.from([0, 0]), 'tiny.idx'), /^tiny\.idx: truncated header at byte offset 2/);
});
