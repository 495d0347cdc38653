/**
 * Float32 buffers that live in a WebAssembly memory of their own, so the all-reduce can sum and
 * scale them with 128-bit SIMD instead of a JS loop.
 *
 * Why: the ring adds every received block into its buffer, and a JS `a[i] += b[i]` loop is as slow
 * as the loopback wire (`npm run bench:sum` compares the two). Wasm code can only reach its own
 * memory, so the buffer and the landing space of the received blocks must both be in it; copying
 * them in and out would cost more than the addition saves. Each memory is sized once and never
 * grown: growing would detach every view the caller holds.
 */
import { simdOpsFor, type SimdOps } from './wasm-simd';

const WASM_PAGE = 64 * 1024;
/** Leaves room under wasm32's 4 GiB limit; larger buffers stay plain typed arrays. */
const MAX_SIMD_BYTES = 2 ** 31;

const registry = new WeakMap<ArrayBufferLike, SimdOps>();

/**
 * A zeroed buffer of at least `bytes` in a fresh WebAssembly memory, or undefined when the
 * engine has no SIMD or the size is beyond wasm32. Views of it get SIMD in `addFloats` and
 * `scaleFloats` when both operands are in it.
 */
export function simdBuffer(bytes: number): ArrayBuffer | undefined {
  if (!(bytes > 0) || bytes > MAX_SIMD_BYTES) return undefined;
  const pages = Math.ceil(bytes / WASM_PAGE);
  let memory: WebAssembly.Memory;
  try {
    memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  } catch {
    return undefined; // Address space refused: the caller keeps a plain typed array.
  }
  const ops = simdOpsFor(memory);
  if (ops === undefined) return undefined;
  registry.set(memory.buffer, ops);
  return memory.buffer;
}

/** dst[i] += src[i]: SIMD when both are views of one `simdBuffer`, else a plain loop. */
export function addFloats(dst: Float32Array, src: Float32Array): void {
  const n = Math.min(dst.length, src.length);
  const ops = dst.buffer === src.buffer ? registry.get(dst.buffer) : undefined;
  let i = 0;
  if (ops !== undefined) {
    i = n & ~3;
    ops.addInto(dst.byteOffset, src.byteOffset, i);
  }
  for (; i < n; i++) dst[i] = (dst[i] as number) + (src[i] as number);
}

/** x[i] *= float32(factor): SIMD when `x` is a view of a `simdBuffer`, else a plain loop. */
export function scaleFloats(x: Float32Array, factor: number): void {
  const n = x.length;
  const ops = registry.get(x.buffer);
  // Both paths multiply by the float32 factor (exact in double, then rounded once), so a buffer
  // scaled with SIMD and one scaled in JS hold the same bits: replicas must not drift apart.
  const f = Math.fround(factor);
  let i = 0;
  if (ops !== undefined) {
    i = n & ~3;
    ops.scale(x.byteOffset, i, f);
  }
  for (; i < n; i++) x[i] = (x[i] as number) * f;
}
