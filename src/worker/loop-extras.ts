/**
 * The training loop's optional parts that need more than a line there: gradual pruning's step
 * at an epoch's start, and the loss options (label smoothing, class weights, distillation).
 */
import type { Communicator } from '../allreduce';
import { RingtrainError } from '../core';
import type { DistillSpec, JobSpec, TrainSpec } from '../config';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Logger } from '../observe';
import { pruneByMagnitude, sparsityAt, sparsityOf, type LossOptions, type ParamLayout } from '../train';
import { classWeightsFor } from './class-weights';
import { evaluateSplit } from './evaluate-split';
import type { LoopData } from './train-types';
import type { TrainCounters } from './train-state';

export interface PruneEpoch {
  spec: JobSpec;
  comm: Communicator;
  model: tfl.LayersModel;
  data: LoopData;
  log: Logger;
  /** 0-based epoch about to start. */
  epoch: number;
  params: Float32Array;
  mask: Float32Array;
  layout: ParamLayout;
  /** The val metrics on record from before pruning began, if it has. */
  before: TrainCounters['pruneBefore'];
}

/**
 * Prunes to the schedule's sparsity at the start of an epoch and returns the val metrics from
 * just before pruning began (measured here the first time, for the before/after line). Every
 * rank prunes the same weights, since they are identical, so no collective is needed beyond
 * that one evaluation, which every rank reaches at the same point.
 */
export async function pruneForEpoch(p: PruneEpoch): Promise<TrainCounters['pruneBefore']> {
  const t = p.spec.train;
  const target = sparsityAt(t.prune, t.epochs, p.epoch + 1);
  if (target <= 0) return p.before;
  let before = p.before;
  if (before === undefined) {
    const val = await evaluateSplit(p.model, p.data.val, p.comm);
    before = { epoch: p.epoch, loss: val.loss, accuracy: val.accuracy };
  }
  pruneByMagnitude(p.params, p.mask, p.layout.slots, target);
  p.layout.writeWeights(p.params);
  if (p.comm.rank === 0) {
    const now = sparsityOf(p.params, p.layout.slots);
    p.log.info(
      { event: 'pruned', epoch: p.epoch + 1, target, sparsity: now },
      `ringtrain: epoch ${p.epoch + 1} trains at ${(100 * now).toFixed(1)}% kernel sparsity (schedule ${(100 * target).toFixed(1)}%, final ${(100 * t.prune.sparsity).toFixed(1)}%)`,
    );
  }
  return before;
}

/** train.distill as the step takes it; a job naming a teacher the caller did not load is a bug. */
export function distillOf(d: DistillSpec, teacher: tfl.LayersModel | undefined): LossOptions['distill'] {
  if (d.teacher === '') return undefined;
  if (teacher === undefined)
    throw new Error(`train.distill.teacher is ${d.teacher}, but no teacher model was loaded for the loop`);
  return { teacher, temperature: d.temperature, alpha: d.alpha };
}

/** How every micro-batch's loss is taken, but for its regression targets. */
export function lossOptionsOf(t: TrainSpec, data: LoopData, teacher: tfl.LayersModel | undefined): LossOptions {
  // A dataset module can return regression targets whatever data.task says (validate.ts checks the task).
  if (t.labelSmoothing > 0 && data.train.targets !== undefined) {
    throw new RingtrainError(
      'CONFIG_INVALID',
      `train.labelSmoothing (${t.labelSmoothing}) applies to classification, but this dataset gives regression targets (mean squared error): set train.labelSmoothing to 0`,
    );
  }
  return {
    labelSmoothing: t.labelSmoothing,
    classWeights: classWeightsFor(t, data.train),
    distill: distillOf(t.distill, teacher),
  };
}
