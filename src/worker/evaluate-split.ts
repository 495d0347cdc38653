/**
 * Distributed evaluation: each rank scores a contiguous slice of the split, and the sums (not
 * means) are all-reduced, so uneven slices combine exactly and every rank gets the same numbers,
 * which is what lets plateau scheduling and early stopping decide identically everywhere.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Communicator } from '../allreduce';
import type { RowSource } from '../data';
import { evaluateRange } from '../train';

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
  const ev = evaluateRange(model, split.images, split.labels, Math.floor((rank * n) / world), Math.floor(((rank + 1) * n) / world));
  const sums = new Float32Array([ev.lossSum, ev.correct, ev.count]);
  await comm.allReduceSum(sums);
  return { loss: (sums[0] as number) / (sums[2] as number), accuracy: (sums[1] as number) / (sums[2] as number), samples: sums[2] as number };
}
