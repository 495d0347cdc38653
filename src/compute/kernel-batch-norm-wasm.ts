/**
 * FusedBatchNorm (batch norm's forward normalisation) for the wasm backend with the addon: the
 * stock kernel walks every element with modulo indices into the per-channel vectors, 3.6 ms for
 * a [64,28,28,16] activation. The native loop (native/channel-ops.cc) computes the float32
 * expression of the stock kernel's source, offset + (x - mean) * scale / sqrt(variance + epsilon),
 * with the square roots taken once per channel; the shipped wasm build rounds some elements
 * differently in the last bit, so the two agree to float32 rounding, not bit for bit. Vectors that are not one value per channel of x's last axis, other dtypes and
 * small tensors go to the stock kernel.
 *
 * Also here, VARIANCE_KERNEL: tf.moments' variance of x given its mean in one native pass, for
 * batch-norm-train.ts (tfjs runs Sub, Square and Mean over the whole activation).
 */
import * as tf from '@tensorflow/tfjs-core';
import { nativeGemm, type NativeGemm } from '../native';
import { isChannelVector } from './kernel-elementwise-wasm';
import { MIN_ELEMENTS, heapWithOffsets, replaceWasmKernel, run, stockKernel, type WasmKernelArgs } from './wasm-heap';

export const VARIANCE_KERNEL = 'RingtrainVariance';

let installed = false;

export function installWasmBatchNorm(): void {
  if (installed) return;
  const stock = stockKernel('FusedBatchNorm');
  if (stock === undefined) return;
  replaceWasmKernel('FusedBatchNorm', (args) => batchNorm(args) ?? run(stock, args.backend, args.inputs, args.attrs));
  replaceWasmKernel(VARIANCE_KERNEL, variance);
  installed = true;
}

function batchNorm({ inputs, backend, attrs }: WasmKernelArgs): tf.TensorInfo | undefined {
  const { x, mean, variance, offset, scale } = inputs as {
    x: tf.TensorInfo;
    mean: tf.TensorInfo;
    variance: tf.TensorInfo;
    offset?: tf.TensorInfo;
    scale?: tf.TensorInfo;
  };
  const { varianceEpsilon } = attrs as unknown as tf.FusedBatchNormAttrs;
  const gemm = nativeGemm();
  const vectors = [mean, variance, offset, scale].filter((t): t is tf.TensorInfo => t !== undefined);
  const n = tf.util.sizeFromShape(x.shape);
  const fits = vectors.every((t) => t.dtype === 'float32' && isChannelVector(t.shape, x.shape));
  if (gemm === undefined || x.dtype !== 'float32' || n < MIN_ELEMENTS || !fits) return undefined;
  const cols = x.shape.at(-1) as number;
  const out = backend.makeOutput(x.shape.slice(), 'float32');
  const { heap, offsets } = heapWithOffsets(backend, out, x, ...vectors);
  const at = (t: tf.TensorInfo | undefined): number | undefined =>
    t === undefined ? undefined : offsets[2 + vectors.indexOf(t)];
  const where = { x: offsets[1] as number, mean: at(mean) as number, variance: at(variance) as number };
  gemm.batchNorm(
    heap.buffer,
    offsets[0] as number,
    { ...where, offset: at(offset), scale: at(scale) },
    varianceEpsilon,
    n / cols,
    cols,
  );
  return out;
}

/** [C]: the variance over every row of x [rows, C] given its [C] mean; only asked for with the addon. */
function variance({ inputs, backend }: WasmKernelArgs): tf.TensorInfo {
  const { x, mean } = inputs as { x: tf.TensorInfo; mean: tf.TensorInfo };
  const cols = x.shape.at(-1) as number;
  const out = backend.makeOutput([cols], 'float32');
  const { heap, offsets: o } = heapWithOffsets(backend, x, mean, out);
  const rows = tf.util.sizeFromShape(x.shape) / cols;
  (nativeGemm() as NativeGemm).variance(
    heap.buffer,
    { x: o[0] as number, mean: o[1] as number },
    rows,
    cols,
    o[2] as number,
  );
  return out;
}
