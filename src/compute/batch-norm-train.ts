/**
 * Batch norm in training as tfjs-layers computes it, tf.moments of x over every axis but the
 * channels, then tf.batchNorm4d of x with that mean and variance, with one gradient for the pair
 * on wasm with the addon. tfjs differentiates the pair op by op: batch norm's gradient, then back
 * through the moments (a broadcast, Square's and Sub's gradients, a per-channel sum, another
 * broadcast, two additions over the whole activation). Here one kernel (TRAIN_KERNEL) computes the
 * same float32 operations in the order tfjs's tape adds them, so the same bits, in three passes.
 *
 * The moments' variance is one native pass too (VARIANCE_KERNEL) instead of Sub, Square and Mean
 * over the whole activation, with the same bits, and a gradient of tfjs's ops in tfjs's order for
 * anything else that differentiates through it.
 *
 * tfjs-layers looks both functions up on tfjs-core's exports at every call, so they are wrapped
 * there: moments notes which x a mean and variance belong to, and batchNorm4d, handed exactly
 * those, runs one custom-gradient op of x, scale and offset (the moments stay constants to it, as
 * their own ops are off the gradient's path). Anything else (another backend, no addon, other
 * axes or ranks, no scale or offset, statistics from elsewhere) runs tfjs's functions unchanged
 * (tfjs's engine cannot differentiate a batch norm without either).
 */
import * as tf from '@tensorflow/tfjs-core';
import tfCore = require('@tensorflow/tfjs-core');
import { nativeGemm } from '../native';
import { TRAIN_KERNEL } from './batch-norm-grad';
import { VARIANCE_KERNEL } from './kernel-batch-norm-wasm';
import { takesLeadingSum } from './kernel-sum-wasm';

type Moments = typeof tf.moments;
type BatchNorm4d = typeof tf.batchNorm4d;
/** tfjs-core's own exports object (not a namespace copy), where tfjs-layers reads them. */
const exportsOfCore = tfCore as unknown as { moments: Moments; batchNorm4d: BatchNorm4d };

let installed = false;

export function installBatchNormTraining(): void {
  if (installed) return;
  const { moments, batchNorm4d } = exportsOfCore;
  const statistics = new WeakMap<tf.Tensor, { x: tf.Tensor; variance: tf.Tensor }>();
  exportsOfCore.moments = ((x, axis, keepDims) => {
    if (!(x instanceof tf.Tensor) || !perChannelOf(x, axis, keepDims)) return moments(x, axis, keepDims);
    const mean = tf.mean(x, [0, 1, 2]);
    const variance = varianceOp(x, mean);
    statistics.set(mean, { x, variance });
    return { mean, variance };
  }) as Moments;
  exportsOfCore.batchNorm4d = ((x, mean, variance, offset, scale, epsilon) => {
    const noted = mean instanceof tf.Tensor ? statistics.get(mean) : undefined;
    const own = noted !== undefined && noted.x === x && noted.variance === variance;
    if (own && fits(noted.x, scale, offset))
      return trainingBatchNorm(batchNorm4d, noted.x, mean as tf.Tensor1D, variance as tf.Tensor1D, {
        scale: scale as tf.Tensor1D,
        offset: offset as tf.Tensor1D,
        epsilon: epsilon ?? 0.001,
      });
    return batchNorm4d(x, mean, variance, offset, scale, epsilon);
  }) as BatchNorm4d;
  installed = true;
}

/**
 * Moments over every axis but the last of a float32 rank-4 tensor, as [C] vectors, on wasm with
 * the addon, where the project's Mean kernel takes them: the native variance adds in its order.
 */
function perChannelOf(x: tf.Tensor, axis: number | number[] | undefined, keepDims: boolean | undefined): boolean {
  if (x.rank !== 4 || x.dtype !== 'float32' || keepDims === true || axis === undefined) return false;
  const axes = tf.util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
  const perChannel = tf.util.arraysEqual(axes, [0, 1, 2]) && takesLeadingSum(x.shape, axes);
  return perChannel && tf.getBackend() === 'wasm' && nativeGemm() !== undefined;
}

/** A scale and an offset, both [C] float32, with the addon. */
function fits(x: tf.Tensor, scale: unknown, offset: unknown): boolean {
  const channel = (t: unknown): boolean =>
    t instanceof tf.Tensor && t.dtype === 'float32' && t.rank === 1 && t.shape[0] === x.shape[3];
  return channel(scale) && channel(offset) && nativeGemm() !== undefined;
}

/** batchNorm4d(x, mean, variance, offset, scale) as one op of x, scale and offset, differentiated by TRAIN_KERNEL. */
function trainingBatchNorm(
  batchNorm4d: BatchNorm4d,
  x: tf.Tensor,
  mean: tf.Tensor1D,
  variance: tf.Tensor1D,
  o: { scale: tf.Tensor1D; offset: tf.Tensor1D; epsilon: number },
): tf.Tensor4D {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, scale, offset, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    save([input, mean, variance, scale]);
    return {
      value: batchNorm4d(input as tf.Tensor4D, mean, variance, offset as tf.Tensor1D, scale as tf.Tensor1D, o.epsilon),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
        const [sx, sMean, sVariance, sScale] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        const inputs = { dy, x: sx, mean: sMean, variance: sVariance, scale: sScale };
        return tf.engine().runKernel(TRAIN_KERNEL, inputs, { varianceEpsilon: o.epsilon }) as tf.Tensor[];
      },
    };
  });
  return op(x, o.scale, o.offset) as tf.Tensor4D;
}

/** The variance of x [N,H,W,C] around its [C] mean in one kernel; the gradient is tfjs's Mean, Square and Sub gradients. */
const varianceOp = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, mean, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
  save([x, mean]);
  return {
    value: tf.engine().runKernel(VARIANCE_KERNEL, { x, mean }) as tf.Tensor,
    gradFunc: (dVariance: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
      const [sx, sMean] = saved as [tf.Tensor, tf.Tensor];
      const c = sx.shape[3] as number;
      const perChannel = [1, 1, 1, c];
      const dSquare = tf.broadcastTo(tf.div(tf.reshape(dVariance, perChannel), sx.size / c), sx.shape);
      const g = tf.mul(dSquare, tf.mul(tf.sub(sx, tf.reshape(sMean, perChannel)), 2));
      return [g, tf.reshape(tf.neg(tf.sum(g, [0, 1, 2])), [c])];
    },
  };
});
