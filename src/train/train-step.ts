/**
 * The local half of a data-parallel step. `forwardBackward` runs forward/backward on this
 * rank's batch (`computeGradients` also packs the gradients into the shared flat buffer); the caller all-reduces that
 * buffer, and the flat optimizer applies the averaged result. Splitting the step here
 * keeps train/ free of any network code.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { ParamLayout } from './flat-params';
import { distillationLoss, meanLabelWeight, meanSquaredError, softmaxCrossEntropy } from './loss';
import { sampleShape } from './models';

export interface LocalStepResult {
  /** This rank's loss on its batch, as PyTorch's criterion reports it (weighted mean with class weights). */
  loss: number;
  /** Correct predictions in this rank's batch. */
  correct: number;
  /**
   * The mean class weight of the batch's rows, sum(w[label]) / rows (1 without class weights):
   * the loss's gradient is scaled by it, and the step divides by its global mean (see loss.ts).
   */
  weightMean: number;
}

/** A local batch's loss and accuracy, with its gradients still on the device. */
export interface LocalGradients extends LocalStepResult {
  /** By variable name; the caller packs them (ParamLayout.packRange) and disposes them. */
  grads: tf.NamedTensorMap;
}

/** How the loss is taken; the defaults are plain cross-entropy on integer labels. */
export interface LossOptions {
  /** rows x outputs regression targets: the loss is then the mean squared error (torch MSELoss). */
  targets?: Float32Array;
  /** Smooths the classification loss (softmaxCrossEntropy). */
  labelSmoothing?: number;
  /** One weight per class (nn.CrossEntropyLoss(weight=...)); see softmaxCrossEntropy. */
  classWeights?: Float32Array;
  /** Knowledge distillation: the loss also follows this teacher's soft targets (distillationLoss). */
  distill?: DistillOptions;
}

export interface DistillOptions {
  /** Run in inference mode on the same batch; never trained. */
  teacher: tfl.LayersModel;
  temperature: number;
  /** Weight of the soft-target term. */
  alpha: number;
}

/**
 * What makes a step more than plain forward/backward over every trainable weight, by name: a
 * path that computes the step another way (a fused kernel) must decline a step that has any.
 * Frozen layers are out of `layout`; a pruning mask (`masked`) is applied by the loop to the
 * all-reduced gradient and to the weights after the update.
 */
export function stepFeatures(opts: LossOptions, layout: ParamLayout, masked: boolean): string[] {
  const out: string[] = [];
  if (opts.distill !== undefined) out.push('distillation');
  if (layout.frozenLayers.length > 0) out.push('frozen layers');
  if (masked) out.push('pruning mask');
  return out;
}

/**
 * Forward and backward on one local batch. With `targets` the task is regression; otherwise
 * softmax cross-entropy on the integer labels `y`. The gradients stay tensors, so the caller can
 * read them into the flat buffer bucket by bucket while earlier buckets are on the wire.
 * The reported loss is the smoothed, weighted objective, as PyTorch's criterion reports it;
 * with class weights the gradients are those of sum(w x loss) / rows, which the step divides by
 * the global mean weight once the all-reduce has summed every rank's.
 */
export function forwardBackward(
  model: tfl.LayersModel,
  layout: ParamLayout,
  x: Float32Array,
  y: Int32Array,
  batch: number,
  opts: LossOptions = {},
): LocalGradients {
  const { targets, labelSmoothing = 0, classWeights, distill } = opts;
  let correct = 0;
  const { value, grads } = tf.tidy(() => {
    const shape = sampleShape(model);
    const size = shape.reduce((a, b) => a * b, 1);
    const xs = tf.tensor(x.subarray(0, batch * size), [batch, ...shape]);
    if (targets !== undefined) {
      const k = targets.length / batch;
      const ts = tf.tensor2d(targets.subarray(0, batch * k), [batch, k]);
      return tf.variableGrads(
        () => meanSquaredError(model.apply(xs, { training: true }) as tf.Tensor2D, ts),
        layout.vars,
      );
    }
    const ys = tf.tensor1d(y.subarray(0, batch), 'int32');
    const ws = classWeights === undefined ? undefined : tf.tensor1d(classWeights, 'float32');
    // The teacher's logits are constants of the student's loss: computed outside the tape.
    const soft = distill === undefined ? undefined : (distill.teacher.apply(xs, { training: false }) as tf.Tensor2D);
    return tf.variableGrads(() => {
      const logits = model.apply(xs, { training: true }) as tf.Tensor2D;
      correct = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), ys), 'float32')).dataSync()[0] as number;
      if (distill !== undefined && soft !== undefined)
        return distillationLoss(logits, soft, ys, distill.temperature, distill.alpha, labelSmoothing);
      return softmaxCrossEntropy(logits, ys, labelSmoothing, ws);
    }, layout.vars);
  });
  const objective = value.dataSync()[0] as number;
  value.dispose();
  const weightMean = classWeights === undefined || targets !== undefined ? 1 : meanLabelWeight(y, batch, classWeights);
  // torch divides by the rows' weight sum: a batch of weight-0 rows has loss 0/0, here 0.
  const loss = weightMean === 1 ? objective : weightMean > 0 ? objective / weightMean : 0;
  return { loss, correct, weightMean, grads };
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
  opts: LossOptions = {},
): LocalStepResult {
  const { loss, correct, weightMean, grads } = forwardBackward(model, layout, x, y, batch, opts);
  layout.packGradients(grads, out, accumulate);
  tf.dispose(Object.values(grads));
  return { loss, correct, weightMean };
}
