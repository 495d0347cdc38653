/**
 * How float32 values travel on the wire. `fp32` sends the buffer's own bytes (no copy);
 * `fp16` and `bf16` halve the bytes at the cost of precision. Sums are always taken in float32:
 * only the transfer is compressed, as in Horovod's fp16 compression and DDP's fp16 hook.
 */
import { HALF_TO_FLOAT, floatToHalf, addFloats } from '../core';
import { nativeWire } from '../native';

export type WireDtype = 'fp32' | 'fp16' | 'bf16';

export const WIRE_DTYPES: readonly WireDtype[] = ['fp32', 'fp16', 'bf16'];

export function bytesPerElement(d: WireDtype): number {
  return d === 'fp32' ? 4 : 2;
}

// The scratch views below serve the bf16 paths; half precision lives in core/half-float.ts.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Bytes to send for `src`: a view for fp32, an encoded copy in `scratch` otherwise. */
export function encode(d: WireDtype, src: Float32Array, scratch: Uint8Array): Uint8Array {
  if (d === 'fp32') return new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
  const out = new Uint16Array(scratch.buffer, scratch.byteOffset, src.length);
  const native = nativeWire();
  if (native !== undefined) native.wireEncode(d === 'fp16' ? 0 : 1, src, out);
  else if (d === 'fp16') {
    for (let i = 0; i < src.length; i++) out[i] = floatToHalf(src[i] as number);
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
    if (add) addFloats(dst, v);
    else dst.set(v);
    return;
  }
  const h = new Uint16Array(src.buffer, src.byteOffset, n);
  const native = nativeWire();
  if (native !== undefined) return native.wireDecode(d === 'fp16' ? 0 : 1, h, dst, add);
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
