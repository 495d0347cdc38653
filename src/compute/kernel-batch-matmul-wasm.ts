/**
 * BatchMatMul for the wasm backend.
 *
 * With the native matrix product (src/native/addon.ts) every batch entry is one call on the wasm heap,
 * transposes included: a transposed operand is read through its strides while being packed.
 *
 * Without it, transposes are done up front: XNNPACK's BatchMatMul is much slower with
 * transposeA, and every Dense layer's weight gradient is x^T . dy. Transposing with the
 * backend's own Transpose kernel, then multiplying untransposed, gives the same numbers faster;
 * the stock kernel still does the multiply.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { nativeGemm, type NativeGemm } from '../native';
import {
  heapF32,
  release,
  replaceWasmKernel,
  run,
  stockKernel,
  transposeTo,
  type KernelFunc,
  type WasmKernelArgs,
} from './wasm-heap';

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

function batchMatMul(
  { inputs, backend, attrs }: WasmKernelArgs,
  matmul: KernelFunc,
  transpose: KernelFunc,
): tf.TensorInfo {
  const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
  const gemm = nativeGemm();
  if (gemm !== undefined && a.dtype === 'float32' && b.dtype === 'float32') {
    const product = nativeBatchMatMul(backend, gemm, a, b, transposeA, transposeB);
    if (product !== undefined) return product;
  }
  if (!transposeA && !transposeB) return run(matmul, backend, inputs, attrs);
  const at = transposeA ? transposeTo(transpose, backend, a, matrixPerm(a.shape.length)) : a;
  const bt = transposeB ? transposeTo(transpose, backend, b, matrixPerm(b.shape.length)) : b;
  try {
    return run(matmul, backend, { a: at, b: bt }, { ...attrs, transposeA: false, transposeB: false });
  } finally {
    release(backend, ...[at, bt].filter((t) => t !== a && t !== b));
  }
}

const size = (dims: number[]): number => dims.reduce((p, d) => p * d, 1);

/**
 * One native product per batch entry; undefined (the stock path then runs) for batch shapes
 * that broadcast other than all-or-one, which no built-in model produces.
 */
function nativeBatchMatMul(
  backend: BackendWasm,
  gemm: NativeGemm,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
): tf.TensorInfo | undefined {
  const ra = a.shape.length;
  const rb = b.shape.length;
  const [aRows, aCols] = [a.shape[ra - 2] as number, a.shape[ra - 1] as number];
  const [bRows, bCols] = [b.shape[rb - 2] as number, b.shape[rb - 1] as number];
  const m = transposeA ? aCols : aRows;
  const k = transposeA ? aRows : aCols;
  const n = transposeB ? bRows : bCols;
  if ((transposeB ? bCols : bRows) !== k) return undefined;
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const batch = tf.broadcast_util.assertAndGetBroadcastShape(batchA, batchB);
  const entries = size(batch);
  const entriesA = size(batchA);
  const entriesB = size(batchB);
  if ((entriesA !== entries && entriesA !== 1) || (entriesB !== entries && entriesB !== 1)) return undefined;
  const out = backend.makeOutput([...batch, m, n], 'float32');
  if (m * n === 0) return out;
  const outView = heapF32(backend, out);
  const heap = outView.buffer;
  const aAt = heapF32(backend, a).byteOffset >> 2;
  const bAt = heapF32(backend, b).byteOffset >> 2;
  const cAt = outView.byteOffset >> 2;
  // Element (i, p) of A is at i*aCols + p untransposed, p*aCols + i transposed; likewise for B.
  const aStrides = transposeA ? { rowStride: 1, colStride: aCols } : { rowStride: aCols, colStride: 1 };
  const bStrides = transposeB ? { rowStride: 1, colStride: bCols } : { rowStride: bCols, colStride: 1 };
  for (let e = 0; e < entries; e++) {
    const aEntry = entriesA === 1 ? 0 : e;
    const bEntry = entriesB === 1 ? 0 : e;
    gemm.sgemm(
      heap,
      m,
      n,
      k,
      { at: aAt + aEntry * aRows * aCols, ...aStrides },
      { at: bAt + bEntry * bRows * bCols, ...bStrides },
      cAt + e * m * n,
      n,
    );
  }
  return out;
}
