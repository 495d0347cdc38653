/**
 * How float32 values travel on the wire. `fp32` sends the buffer's own bytes (no copy);
 * `fp16` and `bf16` halve the bytes at the cost of precision. Sums are always taken in float32:
 * only the transfer is compressed, as in Horovod's fp16 compression and DDP's fp16 hook.
 */
export type WireDtype = 'fp32' | 'fp16' | 'bf16';

export const WIRE_DTYPES: readonly WireDtype[] = ['fp32', 'fp16', 'bf16'];

export function bytesPerElement(d: WireDtype): number {
  return d === 'fp32' ? 4 : 2;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 half from float32, round to nearest even; overflow to infinity, NaN kept. */
function toHalf(v: number): number {
  f32[0] = v;
  const x = u32[0] as number;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (rem > mid || (rem === mid && (half & 1) === 1) ? half + 1 : half);
  }
  const half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  return sign | (rem > 0x1000 || (rem === 0x1000 && (half & 1) === 1) ? half + 1 : half);
}

/** Lookup table: every half's float32 value, so decoding is one load per element. */
const HALF_TO_FLOAT = (() => {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) t[h] = sign * mant * 2 ** -24;
    else if (exp === 0x1f) t[h] = mant !== 0 ? NaN : sign * Infinity;
    else t[h] = sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  return t;
})();

/** Bytes to send for `src`: a view for fp32, an encoded copy in `scratch` otherwise. */
export function encode(d: WireDtype, src: Float32Array, scratch: Uint8Array): Uint8Array {
  if (d === 'fp32') return new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
  const out = new Uint16Array(scratch.buffer, scratch.byteOffset, src.length);
  if (d === 'fp16') {
    for (let i = 0; i < src.length; i++) out[i] = toHalf(src[i] as number);
  } else {
    const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
    for (let i = 0; i < src.length; i++) {
      const x = bits[i] as number;
      // Round to nearest even on the 16 dropped bits; NaN stays NaN.
      out[i] = (x & 0x7fffffff) > 0x7f800000 ? (x >>> 16) | 0x40 : (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
    }
  }
  return new Uint8Array(scratch.buffer, scratch.byteOffset, src.length * 2);
}

/** dst[i] += decoded(src)[i] (add) or dst[i] = decoded(src)[i]. */
export function decodeInto(d: WireDtype, src: Uint8Array, dst: Float32Array, add: boolean): void {
  const n = dst.length;
  if (d === 'fp32') {
    const v = new Float32Array(src.buffer, src.byteOffset, n);
    if (add) for (let i = 0; i < n; i++) dst[i] = (dst[i] as number) + (v[i] as number);
    else dst.set(v);
    return;
  }
  const h = new Uint16Array(src.buffer, src.byteOffset, n);
  if (d === 'fp16') {
    if (add) for (let i = 0; i < n; i++) dst[i] = (dst[i] as number) + (HALF_TO_FLOAT[h[i] as number] as number);
    else for (let i = 0; i < n; i++) dst[i] = HALF_TO_FLOAT[h[i] as number] as number;
    return;
  }
  const bits = new Uint32Array(dst.buffer, dst.byteOffset, n);
  if (add) {
    for (let i = 0; i < n; i++) {
      u32[0] = (h[i] as number) << 16;
      dst[i] = (dst[i] as number) + (f32[0] as number);
    }
  } else {
    for (let i = 0; i < n; i++) bits[i] = (h[i] as number) << 16;
  }
}
