/**
 * Batch norm's gradient in one native pass on the wasm backend. tfjs-core's FusedBatchNorm
 * gradient builds dx, dmean, dvariance, dscale and doffset from about ten operations over the
 * whole activation (subtractions, products, per-channel sums); here one kernel reads dy and x once
 * (native/channel-ops.cc) with the same float32 products and sums in the order the project's Sum
 * kernel adds them, so the result has the same bits. The gradient registration is tfjs's global
 * one: on any other backend, without the addon, or for shapes tfjs's own formula does not take
 * (anything but NHWC with per-channel statistics) it calls tfjs's gradient unchanged.
 */
import * as tf from '@tensorflow/tfjs-core';
import { nativeGemm, type NativeGemm } from '../native';
import { heapWithOffsets, release, replaceWasmKernel, type WasmKernelArgs } from './wasm-heap';

const KERNEL = 'RingtrainBatchNormGrad';
/** The same, then the rest of x's gradient through tf.moments of x (batch-norm-train.ts). */
export const TRAIN_KERNEL = 'RingtrainBatchNormTrainGrad';

let installed = false;

export function installBatchNormGradient(): void {
  if (installed) return;
  const original = tf.getGradient('FusedBatchNorm');
  if (original === undefined) return;
  replaceWasmKernel(KERNEL, gradientKernel);
  replaceWasmKernel(TRAIN_KERNEL, trainGradientKernel);
  tf.registerGradient({
    kernelName: 'FusedBatchNorm',
    inputsToSave: original.inputsToSave,
    gradFunc: (dy, saved, attrs) =>
      nativeGradient(dy as tf.Tensor, saved, attrs) ?? original.gradFunc(dy, saved, attrs),
  });
  installed = true;
}

function nativeGradient(
  dy: tf.Tensor,
  saved: tf.Tensor[],
  attrs: tf.NamedAttrMap,
): Record<string, () => tf.Tensor> | undefined {
  const [x, mean, variance] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
  // tfjs saves a null for a batch norm without a scale.
  const scale = saved[3] ?? undefined;
  const c = x.shape[3];
  const perChannel = (t: tf.Tensor | undefined): boolean =>
    t === undefined || (t.dtype === 'float32' && t.rank === 1 && t.shape[0] === c);
  const fits =
    x.rank === 4 && dy.dtype === 'float32' && x.dtype === 'float32' && [mean, variance, scale].every(perChannel);
  if (!fits || tf.getBackend() !== 'wasm' || nativeGemm() === undefined) return undefined;
  const inputs: tf.NamedTensorMap = scale === undefined ? { dy, x, mean, variance } : { dy, x, mean, variance, scale };
  const [dx, dMean, dVariance, dScale, dOffset] = tf.engine().runKernel(KERNEL, inputs, attrs) as tf.Tensor[];
  const grad = (t: tf.Tensor | undefined) => (): tf.Tensor => t as tf.Tensor;
  return { x: grad(dx), mean: grad(dMean), variance: grad(dVariance), scale: grad(dScale), offset: grad(dOffset) };
}

function gradientKernel({ inputs, backend, attrs }: WasmKernelArgs): tf.TensorInfo[] {
  const { dy, x, mean, variance, scale } = inputs as {
    dy: tf.TensorInfo;
    x: tf.TensorInfo;
    mean: tf.TensorInfo;
    variance: tf.TensorInfo;
    scale?: tf.TensorInfo;
  };
  const { varianceEpsilon } = attrs as unknown as tf.FusedBatchNormAttrs;
  const gemm = nativeGemm() as NativeGemm;
  const cols = x.shape.at(-1) as number;
  const dx = backend.makeOutput(x.shape.slice(), 'float32');
  const sums = [0, 1, 2, 3].map(() => backend.makeOutput(mean.shape.slice(), 'float32'));
  const extra = scale === undefined ? [] : [scale];
  const { heap, offsets: o } = heapWithOffsets(backend, dy, x, mean, variance, dx, ...sums, ...extra);
  const from = { dy: o[0] as number, x: o[1] as number, mean: o[2] as number, variance: o[3] as number, scale: o[9] };
  const to = {
    dx: o[4] as number,
    mean: o[5] as number,
    variance: o[6] as number,
    scale: o[7] as number,
    offset: o[8] as number,
  };
  gemm.batchNormGrad(heap.buffer, from, varianceEpsilon, tf.util.sizeFromShape(x.shape) / cols, cols, to);
  return [dx, ...sums];
}

/** [dx, dScale, dOffset] of batch norm with its own moments: the gradient above, then the moments' part added to dx. */
function trainGradientKernel(args: WasmKernelArgs): tf.TensorInfo[] {
  const [dx, dMean, dVariance, dScale, dOffset] = gradientKernel(args) as [
    tf.TensorInfo,
    tf.TensorInfo,
    tf.TensorInfo,
    tf.TensorInfo,
    tf.TensorInfo,
  ];
  const { x, mean } = args.inputs as { x: tf.TensorInfo; mean: tf.TensorInfo };
  const cols = x.shape.at(-1) as number;
  const { heap, offsets: o } = heapWithOffsets(args.backend, x, mean, dMean, dVariance, dx);
  const at = { x: o[0] as number, mean: o[1] as number, dMean: o[2] as number, dVariance: o[3] as number };
  (nativeGemm() as NativeGemm).momentsGrad(
    heap.buffer,
    at,
    tf.util.sizeFromShape(x.shape) / cols,
    cols,
    o[4] as number,
  );
  release(args.backend, dMean, dVariance);
  return [dx, dScale, dOffset];
}
