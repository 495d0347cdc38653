import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { lossAndCorrect, regressionSums } from './loss';
import { sampleShape } from './models';

export interface EvalSums {
  lossSum: number;
  correct: number;
  count: number;
  /** Regression: sums of squared and absolute errors over all elements (0 for classification). */
  sqErr: number;
  absErr: number;
}

/**
 * Runs the model in evaluation mode over rows [start, end) in batches, handing each batch's
 * output to `add` inside one tidy (so nothing it creates outlives the batch).
 */
function forEachBatch(
  model: tfl.LayersModel,
  images: Float32Array,
  start: number,
  end: number,
  batchSize: number,
  add: (out: tf.Tensor2D, i: number, n: number) => void,
): number {
  const shape = sampleShape(model);
  const size = shape.reduce((a, b) => a * b, 1);
  for (let i = start; i < end; i += batchSize) {
    const n = Math.min(batchSize, end - i);
    tf.tidy(() => add(model.apply(tf.tensor(images.subarray(i * size, (i + n) * size), [n, ...shape]), { training: false }) as tf.Tensor2D, i, n));
  }
  return Math.max(0, end - start);
}

/**
 * Loss sum, correct count and sample count over rows [start, end) of a split. Returning sums
 * (not means) lets ranks that evaluated different-sized parts be combined exactly by all-reduce.
 */
export function evaluateRange(model: tfl.LayersModel, images: Float32Array, labels: Int32Array, start: number, end: number, batchSize = 1000): EvalSums {
  const sums: EvalSums = { lossSum: 0, correct: 0, count: 0, sqErr: 0, absErr: 0 };
  sums.count = forEachBatch(model, images, start, end, batchSize, (logits, i, n) => {
    const r = lossAndCorrect(logits, tf.tensor1d(labels.subarray(i, i + n), 'int32'));
    // One read back per batch, not one per figure.
    const [loss, correct] = tf.stack([r.lossSum, r.correct]).dataSync();
    sums.lossSum += loss as number;
    sums.correct += correct as number;
  });
  return sums;
}

/**
 * evaluateRange for regression: `targets` holds `outputs` values per row. lossSum is the sum of
 * per-row mean squared errors (so lossSum / count is MSELoss over the rows).
 */
export function evaluateRegressionRange(
  model: tfl.LayersModel,
  images: Float32Array,
  targets: Float32Array,
  outputs: number,
  start: number,
  end: number,
  batchSize = 1000,
): EvalSums {
  const sums: EvalSums = { lossSum: 0, correct: 0, count: 0, sqErr: 0, absErr: 0 };
  sums.count = forEachBatch(model, images, start, end, batchSize, (out, i, n) => {
    const r = regressionSums(out, tf.tensor2d(targets.subarray(i * outputs, (i + n) * outputs), [n, outputs]));
    const [sq, abs] = tf.stack([r.sqErr, r.absErr]).dataSync();
    sums.sqErr += sq as number;
    sums.absErr += abs as number;
  });
  sums.lossSum = sums.sqErr / outputs;
  return sums;
}
