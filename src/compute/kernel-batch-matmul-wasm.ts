/**
 * BatchMatMul for the wasm backend with transposes done up front. tfjs-backend-wasm (XNNPACK)
 * runs BatchMatMul with transposeA about 5x slower than without, and every Dense layer's weight
 * gradient is x^T . dy (transposeA). Transposing the operand with the backend's own Transpose
 * kernel, then multiplying untransposed, gives the same numbers much faster. The stock kernel is
 * kept and called for the multiply itself.
 */
import * as tf from '@tensorflow/tfjs-core';

type KernelFunc = tf.KernelConfig['kernelFunc'];

let installed = false;

export function installWasmBatchMatMul(): void {
  if (installed) return;
  const matmul = tf.getKernel('BatchMatMul', 'wasm');
  const transpose = tf.getKernel('Transpose', 'wasm');
  if (matmul === undefined || transpose === undefined) return;
  const original: KernelFunc = matmul.kernelFunc;
  const transposeFn: KernelFunc = transpose.kernelFunc;

  const swapLastTwo = (x: tf.TensorInfo, backend: tf.KernelBackend): tf.TensorInfo => {
    const rank = x.shape.length;
    const perm = Array.from({ length: rank }, (_, i) => i);
    perm[rank - 2] = rank - 1;
    perm[rank - 1] = rank - 2;
    return transposeFn({ inputs: { x }, backend, attrs: { perm } }) as tf.TensorInfo;
  };

  const kernelFunc: KernelFunc = ({ inputs, backend: anyBackend, attrs }) => {
    const backend = anyBackend as tf.KernelBackend;
    const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
    if (!transposeA && !transposeB) return original({ inputs, backend, attrs });
    const at = transposeA ? swapLastTwo(a, backend) : a;
    const bt = transposeB ? swapLastTwo(b, backend) : b;
    try {
      return original({ inputs: { a: at, b: bt }, backend, attrs: { ...attrs, transposeA: false, transposeB: false } });
    } finally {
      if (at !== a) backend.disposeData(at.dataId);
      if (bt !== b) backend.disposeData(bt.dataId);
    }
  };
  tf.unregisterKernel('BatchMatMul', 'wasm');
  tf.registerKernel({ ...matmul, kernelFunc });
  installed = true;
}
