/**
 * The local half of a data-parallel step. `forwardBackward` runs forward/backward on this
 * rank's batch (`computeGradients` also packs the gradients into the shared flat buffer); the caller all-reduces that
 * buffer; `applyAveraged` hands the averaged gradients to the optimizer. Splitting the step here
 * keeps train/ free of any network code.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { ParamLayout } from './flat-params';
import { meanSquaredError, softmaxCrossEntropy } from './loss';
import { sampleShape } from './models';

export interface LocalStepResult {
  /** Mean loss over this rank's batch. */
  loss: number;
  /** Correct predictions in this rank's batch. */
  correct: number;
}

/** A local batch's loss and accuracy, with its gradients still on the device. */
export interface LocalGradients extends LocalStepResult {
  /** By variable name; the caller packs them (ParamLayout.packRange) and disposes them. */
  grads: tf.NamedTensorMap;
}

/**
 * Forward and backward on one local batch. With `targets` (rows x outputs) the task is
 * regression and the loss is the mean squared error (torch MSELoss); otherwise softmax
 * cross-entropy on the integer labels `y`. The gradients stay tensors, so the caller can read
 * them into the flat buffer bucket by bucket while earlier buckets are on the wire.
 * `labelSmoothing` smooths the classification loss (softmaxCrossEntropy); the reported loss is
 * that smoothed objective, as PyTorch's criterion reports it.
 */
export function forwardBackward(
  model: tfl.LayersModel,
  layout: ParamLayout,
  x: Float32Array,
  y: Int32Array,
  batch: number,
  targets?: Float32Array,
  labelSmoothing = 0,
): LocalGradients {
  let correct = 0;
  const { value, grads } = tf.tidy(() => {
    const shape = sampleShape(model);
    const size = shape.reduce((a, b) => a * b, 1);
    const xs = tf.tensor(x.subarray(0, batch * size), [batch, ...shape]);
    if (targets !== undefined) {
      const k = targets.length / batch;
      const ts = tf.tensor2d(targets.subarray(0, batch * k), [batch, k]);
      return tf.variableGrads(() => meanSquaredError(model.apply(xs, { training: true }) as tf.Tensor2D, ts), layout.vars);
    }
    const ys = tf.tensor1d(y.subarray(0, batch), 'int32');
    return tf.variableGrads(() => {
      const logits = model.apply(xs, { training: true }) as tf.Tensor2D;
      correct = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), ys), 'float32')).dataSync()[0] as number;
      return softmaxCrossEntropy(logits, ys, labelSmoothing);
    }, layout.vars);
  });
  const loss = value.dataSync()[0] as number;
  value.dispose();
  return { loss, correct, grads };
}

/**
 * Forward and backward on one local batch; the gradients land in `out` (added to it with
 * `accumulate`). See forwardBackward.
 */
export function computeGradients(
  model: tfl.LayersModel,
  layout: ParamLayout,
  x: Float32Array,
  y: Int32Array,
  batch: number,
  out: Float32Array,
  accumulate = false,
  targets?: Float32Array,
  labelSmoothing = 0,
): LocalStepResult {
  const { loss, correct, grads } = forwardBackward(model, layout, x, y, batch, targets, labelSmoothing);
  layout.packGradients(grads, out, accumulate);
  tf.dispose(Object.values(grads));
  return { loss, correct };
}

export function applyAveraged(optimizer: tf.Optimizer, layout: ParamLayout, averaged: Float32Array): void {
  const grads = layout.unpackGradients(averaged);
  optimizer.applyGradients(grads);
  tf.dispose(Object.values(grads));
}
