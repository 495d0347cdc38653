import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { decodeInto, encode, type WireDtype } from '../../src/allreduce/wire-dtype';
import { nativeWire, setNativeKernels } from '../../src/native';

/** Every kind of float32 the wire meets: signed zeros, half subnormals and their rounding ties, overflow, NaNs with payloads. */
function edgeAndRandom(n: number, seed: number): Float32Array {
  const bits = new Uint32Array(n);
  const edges = [
    0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xffbfffff, 0x7fffffff, 0x33000000, 0x33000001,
    0x32ffffff, 0x33800000, 0x387fc000, 0x38800000, 0x477fe000, 0x477fefff, 0x477ff000, 0x47800000, 0x3f800fff,
    0x3f801000, 0x3f803000, 0x3f808000, 0x3f818000, 0x00000001, 0x807fffff, 0x7f7fffff, 0x7f7f8000, 0x3fff7fff,
  ];
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    // Mostly gradient-sized values, some arbitrary bit patterns, the edges spread through.
    bits[i] = i % 97 < edges.length ? (edges[i % 97] as number) : i % 5 === 0 ? s : 0;
  }
  const out = new Float32Array(bits.buffer);
  for (let i = 0; i < n; i++)
    if (i % 97 >= edges.length && i % 5 !== 0) out[i] = Math.sin(i * 0.37 + seed) * 10 ** ((i % 13) - 9);
  return out;
}

function sameFloats(got: Float32Array, want: Float32Array, what: string): void {
  assert.equal(got.length, want.length);
  for (let i = 0; i < want.length; i++) {
    const g = got[i] as number;
    const w = want[i] as number;
    if (Number.isNaN(w) && Number.isNaN(g)) continue;
    assert.ok(Object.is(g, w), `${what}: element ${i} is ${g}, the JS loop gives ${w}`);
  }
}

function run(d: WireDtype, native: boolean, src: Float32Array, base: Float32Array) {
  setNativeKernels(native);
  try {
    const bytes = encode(d, src, new Uint8Array(src.length * 2 + 8));
    const set = new Float32Array(src.length);
    decodeInto(d, bytes, set, false);
    const added = Float32Array.from(base);
    decodeInto(d, bytes, added, true);
    return { bytes: Array.from(new Uint16Array(bytes.buffer, bytes.byteOffset, src.length)), set, added };
  } finally {
    setNativeKernels(true);
  }
}

test('the native wire conversions give the JS loops bits, fp16 and bf16, every length and tail', (t) => {
  if (nativeWire() === undefined) return t.skip('the native addon is not built here');
  for (const d of ['fp16', 'bf16'] as const) {
    for (const n of [0, 1, 7, 8, 15, 16, 17, 33, 1000, 65_541]) {
      const src = edgeAndRandom(n, n + 3);
      const base = edgeAndRandom(n, 2 * n + 11).map((v) => (Number.isFinite(v) ? v : 1.5));
      const js = run(d, false, src, base);
      const native = run(d, true, src, base);
      assert.deepEqual(native.bytes, js.bytes, `${d} n ${n}: encoded bits`);
      sameFloats(native.set, js.set, `${d} n ${n} decoded`);
      sameFloats(native.added, js.added, `${d} n ${n} decoded and added`);
    }
  }
});

test('fp16 rounds to nearest even and saturates to infinity (the encoder both paths must match)', () => {
  const src = new Float32Array([1 + 2 ** -11, 1 + 3 * 2 ** -11, 65504, 65520, 2 ** -25, 3 * 2 ** -26, -0, NaN]);
  const half = new Uint16Array(encode('fp16', src, new Uint8Array(16)).buffer, 0, src.length);
  assert.deepEqual(Array.from(half), [0x3c00, 0x3c02, 0x7bff, 0x7c00, 0x0000, 0x0001, 0x8000, 0x7e00]);
});
