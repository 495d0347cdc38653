/**
 * BatchMatMul for the wasm backend with transposes done up front. tfjs-backend-wasm (XNNPACK)
 * runs BatchMatMul with transposeA about 5x slower than without, and every Dense layer's weight
 * gradient is x^T . dy (transposeA). Transposing the operand with the backend's own Transpose
 * kernel, then multiplying untransposed, gives the same numbers much faster. The stock kernel is
 * kept and called for the multiply itself.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { release, replaceWasmKernel, run, stockKernel, transposeTo, type KernelFunc, type WasmKernelArgs } from './wasm-heap';

let installed = false;

export function installWasmBatchMatMul(): void {
  if (installed) return;
  const matmul = stockKernel('BatchMatMul');
  const transpose = stockKernel('Transpose');
  if (matmul === undefined || transpose === undefined) return;
  replaceWasmKernel('BatchMatMul', (args) => batchMatMul(args, matmul, transpose));
  installed = true;
}

/** Swaps the last two axes (the matrix transpose of each batch entry). */
function matrixPerm(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return perm;
}

function batchMatMul({ inputs, backend, attrs }: WasmKernelArgs, matmul: KernelFunc, transpose: KernelFunc): tf.TensorInfo {
  const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
  if (!transposeA && !transposeB) return run(matmul, backend, inputs, attrs);
  const at = transposeA ? transposeTo(transpose, backend, a, matrixPerm(a.shape.length)) : a;
  const bt = transposeB ? transposeTo(transpose, backend, b, matrixPerm(b.shape.length)) : b;
  try {
    return run(matmul, backend, { a: at, b: bt }, { ...attrs, transposeA: false, transposeB: false });
  } finally {
    release(backend, ...[at, bt].filter((t) => t !== a && t !== b));
  }
}
