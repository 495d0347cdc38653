import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { RingtrainError } from '../core';
import { readRows, type RowSource } from '../data';
import type { RegressionSums } from './class-metrics';
import { lossAndCorrect } from './loss';
import { sampleShape } from './models';

export interface EvalSums {
  lossSum: number;
  correct: number;
  count: number;
  /** Regression: sums of squared and absolute errors over all elements (0 for classification). */
  sqErr: number;
  absErr: number;
  /** Classification: confusion[true * classes + predicted] counts (class-metrics.ts reads it). */
  confusion?: Float64Array;
  /** Regression: the per-output sums R^2 needs. */
  regression?: RegressionSums;
}

/**
 * Runs the model in evaluation mode over rows [start, end) in batches, handing each batch's
 * output to `add` inside one tidy (so nothing it creates outlives the batch). Byte rows are
 * decoded into one scratch buffer reused for every batch (float rows are read in place).
 */
function forEachBatch(
  model: tfl.LayersModel,
  rows: RowSource,
  start: number,
  end: number,
  batchSize: number,
  add: (out: tf.Tensor2D, i: number, n: number) => void,
): number {
  const shape = sampleShape(model);
  const size = shape.reduce((a, b) => a * b, 1);
  if (size !== rows.features) {
    throw new RingtrainError(
      'DATA_INVALID',
      `the model takes ${size} values per sample (shape [${shape.join(',')}]) but the rows have ${rows.features}: is this the model trained on this data?`,
    );
  }
  let scratch: Float32Array | undefined;
  for (let i = start; i < end; i += batchSize) {
    const n = Math.min(batchSize, end - i);
    const x = readRows(rows, i, i + n, scratch);
    if (rows.decode !== undefined) scratch ??= x;
    tf.tidy(() => add(model.apply(tf.tensor(x, [n, ...shape]), { training: false }) as tf.Tensor2D, i, n));
  }
  return Math.max(0, end - start);
}

/**
 * Loss sum, correct count and sample count over rows [start, end) of a split. Returning sums
 * (not means) lets ranks that evaluated different-sized parts be combined exactly by all-reduce.
 */
export function evaluateRange(
  model: tfl.LayersModel,
  rows: RowSource,
  start: number,
  end: number,
  batchSize = 1000,
): EvalSums {
  const classes = (model.outputs[0]?.shape[1] as number | null) ?? 1;
  const confusion = new Float64Array(classes * classes);
  const sums: EvalSums = { lossSum: 0, correct: 0, count: 0, sqErr: 0, absErr: 0, confusion };
  const labels = rows.labels;
  sums.count = forEachBatch(model, rows, start, end, batchSize, (logits, i, n) => {
    const y = labels.subarray(i, i + n);
    const r = lossAndCorrect(logits, tf.tensor1d(y, 'int32'));
    const [loss, correct] = tf.stack([r.lossSum, r.correct]).dataSync();
    sums.lossSum += loss as number;
    sums.correct += correct as number;
    const predicted = tf.argMax(logits, 1).dataSync();
    for (let j = 0; j < n; j++) {
      const t = y[j] as number;
      // A label the model has no output for counts as wrong, outside the matrix.
      if (t >= 0 && t < classes)
        confusion[t * classes + (predicted[j] as number)] =
          (confusion[t * classes + (predicted[j] as number)] as number) + 1;
    }
  });
  return sums;
}

/**
 * evaluateRange for regression: `rows.targets` holds `rows.classes` values per row. lossSum is
 * the sum of per-row mean squared errors (so lossSum / count is MSELoss over the rows).
 */
export function evaluateRegressionRange(
  model: tfl.LayersModel,
  rows: RowSource,
  start: number,
  end: number,
  batchSize = 1000,
): EvalSums {
  const targets = rows.targets;
  if (targets === undefined)
    throw new RingtrainError(
      'DATA_INVALID',
      'regression evaluation needs rows with targets; these rows have class labels only',
    );
  const outputs = rows.classes ?? 1;
  const reg: RegressionSums = {
    sqErr: new Float64Array(outputs),
    sum: new Float64Array(outputs),
    sumSq: new Float64Array(outputs),
  };
  const sums: EvalSums = { lossSum: 0, correct: 0, count: 0, sqErr: 0, absErr: 0, regression: reg };
  // Row 0 of the whole split: the same shift on every rank, whatever slice it evaluates.
  const shift = targets.subarray(0, outputs);
  sums.count = forEachBatch(model, rows, start, end, batchSize, (out, i, n) => {
    const pred = out.dataSync();
    const base = i * outputs;
    for (let r = 0; r < n * outputs; r++) {
      const j = r % outputs;
      const y = targets[base + r] as number;
      const d = (pred[r] as number) - y;
      const c = y - (shift[j] as number);
      reg.sqErr[j] = (reg.sqErr[j] as number) + d * d;
      reg.sum[j] = (reg.sum[j] as number) + c;
      reg.sumSq[j] = (reg.sumSq[j] as number) + c * c;
      sums.absErr += Math.abs(d);
    }
  });
  sums.sqErr = reg.sqErr.reduce((a, b) => a + b, 0);
  sums.lossSum = sums.sqErr / outputs;
  return sums;
}
