/**
 * Distributed evaluation: each rank scores a contiguous slice of the split, and the sums (not
 * means) are all-reduced, so uneven slices combine exactly and every rank gets the same numbers,
 * which is what lets plateau scheduling and early stopping decide identically everywhere.
 * The confusion matrix (classification) and R^2's per-output sums (regression) ride in the same
 * all-reduce.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Communicator } from '../allreduce';
import type { RowSource } from '../data';
import {
  classificationReport,
  confusionRows,
  evaluateRange,
  evaluateRegressionRange,
  rSquared,
  type ClassificationReport,
} from '../train';

export interface SplitMetrics {
  loss: number;
  accuracy: number;
  samples: number;
  /** Regression only. */
  mse?: number;
  mae?: number;
  r2?: number;
  /** Classification: confusion[true][predicted] over the split (left out of log lines: withoutConfusion). */
  confusion?: number[][];
}

export async function evaluateSplit(
  model: tfl.LayersModel,
  split: RowSource,
  comm: Communicator,
): Promise<SplitMetrics> {
  const n = split.count;
  const { rank, worldSize: world } = comm;
  const start = Math.floor((rank * n) / world);
  const end = Math.floor(((rank + 1) * n) / world);
  const outputs = split.classes ?? 1;
  const ev =
    split.targets !== undefined
      ? evaluateRegressionRange(model, split, start, end)
      : evaluateRange(model, split, start, end);
  const reg = ev.regression;
  const extra = reg !== undefined ? [...reg.sqErr, ...reg.sum, ...reg.sumSq] : [...(ev.confusion ?? [])];
  const sums = new Float32Array([ev.lossSum, ev.correct, ev.count, ev.sqErr, ev.absErr, ...extra]);
  await comm.allReduceSum(sums);
  const [lossSum, correct, count, sqErr, absErr] = Array.from(sums.subarray(0, 5)) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const rest = sums.subarray(5);
  if (reg !== undefined) {
    const k = reg.sqErr.length;
    const r2 = rSquared(
      {
        sqErr: Float64Array.from(rest.subarray(0, k)),
        sum: Float64Array.from(rest.subarray(k, 2 * k)),
        sumSq: Float64Array.from(rest.subarray(2 * k, 3 * k)),
      },
      count,
    );
    // Regression has no accuracy: NaN says so (JSON writes it as null).
    return {
      loss: lossSum / count,
      accuracy: NaN,
      samples: count,
      mse: sqErr / (count * outputs),
      mae: absErr / (count * outputs),
      r2,
    };
  }
  const classes = Math.round(Math.sqrt(rest.length));
  return { loss: lossSum / count, accuracy: correct / count, samples: count, confusion: confusionRows(rest, classes) };
}

/** The metrics without the confusion matrix, for log lines and epoch reports. */
export function withoutConfusion(m: SplitMetrics): Omit<SplitMetrics, 'confusion'> {
  const { confusion: _omit, ...rest } = m;
  return rest;
}

/** What metrics.jsonl records of a split: accuracy (classification) or mse, mae, r2 (regression). */
export function splitRecord(m: SplitMetrics): { accuracy?: number; mse?: number; mae?: number; r2?: number } {
  const out: { accuracy?: number; mse?: number; mae?: number; r2?: number } = {};
  if (!Number.isNaN(m.accuracy)) out.accuracy = m.accuracy;
  if (m.mse !== undefined) out.mse = m.mse;
  if (m.mae !== undefined) out.mae = m.mae;
  if (m.r2 !== undefined) out.r2 = m.r2;
  return out;
}

/** A split's metrics as evaluation.json holds them: with the per-class report for classification. */
export function evaluationOf(
  m: SplitMetrics,
  labels?: readonly string[],
): Omit<SplitMetrics, 'confusion'> & { report?: ClassificationReport } {
  const rest = withoutConfusion(m);
  return m.confusion === undefined ? rest : { ...rest, report: classificationReport(m.confusion, labels) };
}
