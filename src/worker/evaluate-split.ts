/**
 * Distributed evaluation: each rank scores a contiguous slice of the split, and the sums (not
 * means) are all-reduced, so uneven slices combine exactly and every rank gets the same numbers,
 * which is what lets plateau scheduling and early stopping decide identically everywhere.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Communicator } from '../allreduce';
import type { RowSource } from '../data';
import { evaluateRange, evaluateRegressionRange } from '../train';

export interface SplitMetrics {
  loss: number;
  accuracy: number;
  samples: number;
  /** Regression only. */
  mse?: number;
  mae?: number;
}

export async function evaluateSplit(model: tfl.LayersModel, split: RowSource, comm: Communicator): Promise<SplitMetrics> {
  const n = split.count;
  const { rank, worldSize: world } = comm;
  const start = Math.floor((rank * n) / world);
  const end = Math.floor(((rank + 1) * n) / world);
  const outputs = split.classes ?? 1;
  const ev = split.targets !== undefined ? evaluateRegressionRange(model, split, start, end) : evaluateRange(model, split, start, end);
  const sums = new Float32Array([ev.lossSum, ev.correct, ev.count, ev.sqErr, ev.absErr]);
  await comm.allReduceSum(sums);
  const [lossSum, correct, count, sqErr, absErr] = Array.from(sums) as [number, number, number, number, number];
  if (split.targets !== undefined) {
    // Regression has no accuracy: NaN says so (JSON writes it as null).
    return { loss: lossSum / count, accuracy: NaN, samples: count, mse: sqErr / (count * outputs), mae: absErr / (count * outputs) };
  }
  return { loss: lossSum / count, accuracy: correct / count, samples: count };
}
