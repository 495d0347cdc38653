/**
 * What the project's wasm kernels share: typed views on the wasm heap, calls to the backend's
 * stock kernels, and tensor-info bookkeeping.
 *
 * A kernel here moves data with plain JS loops over Float32Array views of wasm memory (no copy
 * in or out) and leaves the arithmetic to the stock XNNPACK kernels (Conv2D, BatchMatMul), which
 * are fast. Views go stale when wasm memory grows (any allocation may grow it), so a kernel
 * allocates every buffer it needs first and takes its views after.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { simdOpsFor, type SimdOps } from '../core';

export type KernelFunc = tf.KernelConfig['kernelFunc'];
export type Shape4 = [number, number, number, number];

/** Below this many elements a stock kernel's fixed costs are no worse than the project's kernels. */
export const MIN_ELEMENTS = 4096;

/** The kernel-function argument, with the backend typed as the wasm backend. */
export interface WasmKernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: BackendWasm;
  attrs: tf.NamedAttrMap;
}

/** The stock wasm kernel `name`, read before any replacement is installed; undefined if absent. */
export function stockKernel(name: string): KernelFunc | undefined {
  return tf.getKernel(name, 'wasm')?.kernelFunc;
}

/** Runs a kernel function directly (no engine, no tape): for intermediates inside a kernel. */
export function run(fn: KernelFunc, backend: BackendWasm, inputs: tf.NamedTensorInfoMap, attrs: object): tf.TensorInfo {
  return fn({ inputs, backend, attrs: attrs as tf.NamedAttrMap }) as tf.TensorInfo;
}

/** Float32 view on a tensor's wasm memory. */
export function heapF32(backend: BackendWasm, t: tf.TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(t) as Float32Array;
}

/**
 * One Float32Array over the whole wasm heap, with the element offsets of `infos` in it: kernels
 * move runs of floats between tensors with `heap.copyWithin` (a memmove, no allocation).
 */
export function heapWithOffsets(
  backend: BackendWasm,
  ...infos: tf.TensorInfo[]
): { heap: Float32Array; offsets: number[] } {
  const views = infos.map((t) => heapF32(backend, t));
  const heap = new Float32Array((views[0] as Float32Array).buffer);
  return { heap, offsets: views.map((v) => v.byteOffset >> 2) };
}

/** The same data under another shape of the same size (what the Reshape kernel does, unowned). */
export function viewAs(t: tf.TensorInfo, shape: number[]): tf.TensorInfo {
  return { dataId: t.dataId, shape, dtype: t.dtype };
}

/** Frees intermediates this kernel allocated (never its inputs). */
export function release(backend: BackendWasm, ...infos: tf.TensorInfo[]): void {
  for (const t of infos) backend.disposeData(t.dataId);
}

/** NCHW <-> NHWC with the stock Transpose kernel; the result is a new intermediate. */
export function transposeTo(
  transpose: KernelFunc,
  backend: BackendWasm,
  x: tf.TensorInfo,
  perm: number[],
): tf.TensorInfo {
  return run(transpose, backend, { x }, { perm });
}

export const NCHW_TO_NHWC = [0, 2, 3, 1];
export const NHWC_TO_NCHW = [0, 3, 1, 2];

/** Registers `kernelFunc` as the wasm kernel `name`, replacing the stock one if there is one. */
export function replaceWasmKernel(
  name: string,
  kernelFunc: (args: WasmKernelArgs) => tf.TensorInfo | tf.TensorInfo[],
): void {
  const stock = tf.getKernel(name, 'wasm');
  if (stock !== undefined) tf.unregisterKernel(name, 'wasm');
  // The stock setupFunc already ran when the backend initialised; it is not needed again.
  tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc: kernelFunc as unknown as KernelFunc });
}

/** The SIMD ops bound to this backend's memory, or undefined where that memory is unreachable. */
export function simdOps(backend: BackendWasm): SimdOps | undefined {
  const module = backend.wasm as unknown as { asm?: { memory?: unknown } };
  const memory = module.asm?.memory;
  return memory instanceof WebAssembly.Memory ? simdOpsFor(memory) : undefined;
}
