import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { addFloats, scaleFloats, simdBuffer } from '../../src/core/simd-floats';

function mustSimd(bytes: number): ArrayBuffer {
  const memory = simdBuffer(bytes);
  if (memory === undefined) throw new Error('Node 20 has WebAssembly SIMD, but simdBuffer gave none');
  return memory;
}

function fill(a: Float32Array, seed: number): void {
  let s = seed >>> 0;
  for (let i = 0; i < a.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = ((s / 2 ** 32) * 2 - 1) * 1000;
  }
}

test('addFloats in a SIMD buffer equals the plain loop bit for bit, at every length and offset', () => {
  const memory = mustSimd(1 << 20);
  for (const n of [0, 1, 3, 4, 5, 8, 17, 1023, 4096, 65_537]) {
    for (const dstOff of [0, 1, 7]) {
      const dst = new Float32Array(memory, dstOff * 4, n);
      const src = new Float32Array(memory, (100_000 + dstOff * 3) * 4, n);
      fill(dst, n + dstOff);
      fill(src, 7 * n + dstOff);
      const want = Float32Array.from(dst, (v, i) => Math.fround(v + (src[i] as number)));
      const guard = new Float32Array(memory, (dstOff + n) * 4, 1);
      guard[0] = 42;
      addFloats(dst, src);
      assert.deepEqual(dst, want, `n ${n} offset ${dstOff}`);
      if (dstOff + n < 100_000) assert.equal(guard[0], 42, 'nothing past the end is written');
    }
  }
});

test('scaleFloats in a SIMD buffer equals the plain loop, tail included', () => {
  const memory = mustSimd(64 * 1024);
  for (const n of [1, 4, 6, 1001]) {
    const x = new Float32Array(memory, 4, n);
    fill(x, n);
    const want = Float32Array.from(x, (v) => Math.fround(v * Math.fround(1 / 3)));
    scaleFloats(x, 1 / 3);
    assert.deepEqual(x, want, `n ${n}`);
  }
});

test('plain arrays, and operands in different buffers, take the plain loop and still add correctly', () => {
  const memory = mustSimd(64 * 1024);
  const inSimd = new Float32Array(memory, 0, 9);
  const plain = Float32Array.from({ length: 9 }, (_, i) => i + 0.5);
  inSimd.fill(2);
  addFloats(inSimd, plain);
  assert.deepEqual(
    Array.from(inSimd),
    Array.from({ length: 9 }, (_, i) => i + 2.5),
  );
  addFloats(plain, plain);
  assert.deepEqual(
    Array.from(plain),
    Array.from({ length: 9 }, (_, i) => 2 * i + 1),
  );
  scaleFloats(plain, 0.5);
  assert.deepEqual(
    Array.from(plain),
    Array.from({ length: 9 }, (_, i) => i + 0.5),
  );
});

test('sizes wasm32 cannot hold, and zero, get no SIMD buffer', () => {
  assert.equal(simdBuffer(0), undefined);
  assert.equal(simdBuffer(2 ** 33), undefined);
  assert.ok((simdBuffer(100)?.byteLength ?? 0) >= 100);
});
