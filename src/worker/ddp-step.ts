/**
 * One data-parallel optimizer step, the DDP contract in four lines: local gradients, sum over
 * the ring, divide by the world size, apply. Every rank applies the same averaged gradient to
 * the same weights, so replicas stay identical without ever exchanging weights again.
 * Shared by the worker loop and the DDP-equivalence test, so the test checks the real step.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Communicator } from '../allreduce';
import { applyAveraged, computeGradients, type ParamLayout } from '../train';

export interface DdpReplica {
  model: tfl.LayersModel;
  layout: ParamLayout;
  optimizer: tf.Optimizer;
  comm: Communicator;
  /** Reused gradient buffer, layout.size long. */
  grads: Float32Array;
}

export interface StepTimes {
  compute: number;
  communication: number;
  update: number;
}

export interface StepResult {
  loss: number;
  correct: number;
  seconds: StepTimes;
}

const since = (t: bigint): number => Number(process.hrtime.bigint() - t) / 1e9;

export async function ddpStep(r: DdpReplica, x: Float32Array, y: Int32Array, batch: number): Promise<StepResult> {
  let t = process.hrtime.bigint();
  const local = computeGradients(r.model, r.layout, x, y, batch, r.grads);
  const compute = since(t);
  t = process.hrtime.bigint();
  await r.comm.allReduceMean(r.grads);
  const communication = since(t);
  t = process.hrtime.bigint();
  applyAveraged(r.optimizer, r.layout, r.grads);
  const update = since(t);
  return { loss: local.loss, correct: local.correct, seconds: { compute, communication, update } };
}

/** Makes every replica start from rank 0's weights. */
export async function syncInitialWeights(r: DdpReplica): Promise<void> {
  const weights = new Float32Array(r.layout.size);
  if (r.comm.rank === 0) r.layout.readWeights(weights);
  await r.comm.broadcast(weights, 0);
  r.layout.writeWeights(weights);
}
