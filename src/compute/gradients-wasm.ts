/**
 * Three of tfjs-core's gradients in fewer passes over the activation, with the same bits; they
 * dominate a batch-norm network's backward pass (every batch norm's statistics take two means and
 * a square, most layers a ReLU). The registrations are tfjs's global ones, so each keeps tfjs's
 * own gradient wherever its faster form does not apply.
 * - Mean: tfjs multiplies the reshaped dy by a tensor of ones the input's size, then divides that
 *   by the count (a fill and two passes); here the per-channel values are divided first and
 *   broadcast once (Tile). Multiplying by one changes no bit and the division is the same float32
 *   division of the same values, so the result is identical, on every backend.
 * - Relu and Square: tfjs computes step(x) or x * 2 and multiplies by dy (two passes); on wasm with
 *   the addon one native loop does both (GRADIENT_KERNELS), with wasm's step (NaN for NaN).
 */
import * as tf from '@tensorflow/tfjs-core';
import { nativeGemm } from '../native';
import { GRADIENT_KERNELS } from './kernel-elementwise-wasm';
import { MIN_ELEMENTS } from './wasm-heap';

let installed = false;

export function installFasterGradients(): void {
  if (installed) return;
  const mean = tf.getGradient('Mean');
  if (mean === undefined) return;
  tf.registerGradient({ kernelName: 'Mean', inputsToSave: mean.inputsToSave, gradFunc: meanGradient });
  for (const [op, kernel] of [
    ['Relu', 'RingtrainReluGrad'],
    ['Square', 'RingtrainSquareGrad'],
  ] as const) {
    const original = tf.getGradient(op);
    if (original === undefined) continue;
    tf.registerGradient({
      kernelName: op,
      inputsToSave: original.inputsToSave,
      gradFunc: (dy, saved, attrs) => onePass(kernel, dy as tf.Tensor, saved) ?? original.gradFunc(dy, saved, attrs),
    });
  }
  installed = true;
}

/** tfjs's Mean gradient, dy / count broadcast back over the reduced axes, dividing before broadcasting. */
function meanGradient(
  dy: tf.Tensor | tf.Tensor[],
  saved: tf.Tensor[],
  attrs: tf.NamedAttrMap,
): Record<string, () => tf.Tensor> {
  const [x] = saved as [tf.Tensor];
  const axes = tf.util.parseAxisParam((attrs as unknown as tf.MeanAttrs).axis, x.shape);
  const count = axes.reduce((n, a) => n * (x.shape[a] as number), 1);
  const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  return { x: () => tf.broadcastTo(tf.div(tf.reshape(dy as tf.Tensor, kept), count), x.shape) };
}

/** dy and the op's input x in one native pass on wasm; undefined where tfjs's own gradient applies. */
function onePass(
  kernel: keyof typeof GRADIENT_KERNELS,
  dy: tf.Tensor,
  saved: tf.Tensor[],
): Record<string, () => tf.Tensor> | undefined {
  const [x] = saved as [tf.Tensor];
  const fits = dy.dtype === 'float32' && x.dtype === 'float32' && tf.util.arraysEqual(dy.shape, x.shape);
  if (!fits || x.size < MIN_ELEMENTS || tf.getBackend() !== 'wasm' || nativeGemm() === undefined) return undefined;
  return { x: () => tf.engine().runKernel(kernel, { a: dy, b: x }) as tf.Tensor };
}
