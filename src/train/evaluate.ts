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
 * Loss sum, correct count and sample count over rows [start, end) of a split. Returning sums
 * (not means) lets ranks that evaluated different-sized parts be combined exactly by all-reduce.
 */
export function evaluateRange(
  model: tfl.LayersModel,
  images: Float32Array,
  labels: Int32Array,
  start: number,
  end: number,
  batchSize = 1000,
): EvalSums {
  const sums: EvalSums = { lossSum: 0, correct: 0, count: 0, sqErr: 0, absErr: 0 };
  const shape = sampleShape(model);
  const size = shape.reduce((a, b) => a * b, 1);
  for (let i = start; i < end; i += batchSize) {
    const n = Math.min(batchSize, end - i);
    tf.tidy(() => {
      const xs = tf.tensor(images.subarray(i * size, (i + n) * size), [n, ...shape]);
      const ys = tf.tensor1d(labels.subarray(i, i + n), 'int32');
      const logits = model.apply(xs, { training: false }) as tf.Tensor2D;
      const r = lossAndCorrect(logits, ys);
      sums.lossSum += r.lossSum.dataSync()[0] as number;
      sums.correct += r.correct.dataSync()[0] as number;
    });
    sums.count += n;
  }
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
  const shape = sampleShape(model);
  const size = shape.reduce((a, b) => a * b, 1);
  for (let i = start; i < end; i += batchSize) {
    const n = Math.min(batchSize, end - i);
    tf.tidy(() => {
      const xs = tf.tensor(images.subarray(i * size, (i + n) * size), [n, ...shape]);
      const ts = tf.tensor2d(targets.subarray(i * outputs, (i + n) * outputs), [n, outputs]);
      const r = regressionSums(model.apply(xs, { training: false }) as tf.Tensor2D, ts);
      sums.sqErr += r.sqErr.dataSync()[0] as number;
      sums.absErr += r.absErr.dataSync()[0] as number;
    });
    sums.count += n;
  }
  sums.lossSum = sums.sqErr / outputs;
  return sums;
}
