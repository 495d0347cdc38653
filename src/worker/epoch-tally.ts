/**
 * An epoch's bookkeeping as pure functions: what its steps add up to, where training stands
 * when it ends, whether a checkpoint is due, and the summary the epoch line prints. No clock,
 * no collective, no weights: the loop hands in what it measured and all-reduced, so each rule
 * can be tested on numbers alone.
 */
import type { MonitorMetric } from '../config';
import type { SplitMetrics } from './evaluate-split';
import type { StepResult } from './step-runner';
import type { EpochSummary, StepTimes } from './train-types';
import type { TrainCounters } from './train-state';

export interface EpochTally {
  /** Train sums of applied steps (loss x rows, correct, rows); rank 0 starts from a resumed epoch's global partial. */
  sums: [number, number, number];
  /** Rows of skipped steps: out of the epoch's loss and accuracy, still in its throughput. */
  skippedRows: number;
  normSum: number;
  maxNorm: number;
  applied: number;
  clipped: number;
  skipped: number;
}

/** An epoch's tally before its first step: rank 0 carries the global partial sums of a resumed epoch. */
export function startTally(partial: readonly [number, number, number], rank: number): EpochTally {
  const sums: [number, number, number] = rank === 0 ? [partial[0], partial[1], partial[2]] : [0, 0, 0];
  return { sums, skippedRows: 0, normSum: 0, maxNorm: 0, applied: 0, clipped: 0, skipped: 0 };
}

/** The tally with one more step counted; only applied steps make the epoch's train figures. */
export function addStep(
  t: EpochTally,
  r: Pick<StepResult, 'applied' | 'clipped' | 'norm' | 'lossSum' | 'correct' | 'rows'>,
): EpochTally {
  // Every field written out: `{ ...t, x }` would get a hidden class of its own each step.
  if (!r.applied)
    return {
      sums: t.sums,
      skippedRows: t.skippedRows + r.rows,
      normSum: t.normSum,
      maxNorm: t.maxNorm,
      applied: t.applied,
      clipped: t.clipped,
      skipped: t.skipped + 1,
    };
  return {
    sums: [t.sums[0] + r.lossSum, t.sums[1] + r.correct, t.sums[2] + r.rows],
    skippedRows: t.skippedRows,
    normSum: t.normSum + r.norm,
    maxNorm: r.norm > t.maxNorm ? r.norm : t.maxNorm,
    applied: t.applied + 1,
    clipped: t.clipped + (r.clipped ? 1 : 0),
    skipped: t.skipped,
  };
}

/** The steps of an epoch of `batches` batches that start at batch `from`, `k` micro-batches each. */
export function stepRanges(from: number, batches: number, k: number): { from: number; to: number }[] {
  const out: { from: number; to: number }[] = [];
  for (let b = from; b < batches; b += k) out.push({ from: b, to: Math.min(b + k, batches) });
  return out;
}

/** A mid-epoch checkpoint is due after this step (the epoch's last step leaves it to the epoch's end). */
export function midEpochCheckpointDue(everySteps: number, step: number, lastOfEpoch: boolean): boolean {
  return everySteps > 0 && step % everySteps === 0 && !lastOfEpoch;
}

/** The validation value the schedule and early stopping watch (train.monitor). */
export function monitoredValue(monitor: MonitorMetric, val: SplitMetrics): number {
  if (monitor === 'accuracy') return val.accuracy;
  if (monitor === 'mse') return val.mse ?? val.loss;
  if (monitor === 'mae') return val.mae ?? val.loss;
  return val.loss;
}

/** The epoch's train metrics from its all-reduced totals [loss x rows, correct, rows, skipped rows]. */
export function trainMetrics(total: Float32Array, regression: boolean): SplitMetrics {
  const loss = (total[0] as number) / (total[2] as number);
  const train: SplitMetrics = {
    loss,
    accuracy: regression ? NaN : (total[1] as number) / (total[2] as number),
    samples: total[2] as number,
  };
  if (regression) train.mse = loss;
  return train;
}

export interface EpochPosition {
  /** Epochs complete (the counters' next `epoch`). */
  epoch: number;
  /** The epoch ran to its end: its position in the order starts over. */
  complete: boolean;
  /** The global train sums a later resume of a cut-short epoch starts from. */
  partial: [number, number, number];
  checkpointDue: boolean;
}

export interface PositionInput {
  /** The counters after the epoch's last step (0-based `epoch` still the one that ran). */
  counters: Pick<TrainCounters, 'epoch' | 'batchInEpoch' | 'step'>;
  batches: number;
  /** The all-reduced [loss x rows, correct, rows, ...] of the epoch. */
  total: Float32Array;
  checkpoint: { everyEpochs: number; everySteps: number };
  stopEarly: boolean;
}

/**
 * Where training stands after an epoch ran: complete, or cut short by maxSteps (its global
 * partial sums kept for a later resume), and whether a checkpoint is due.
 */
export function positionAfterEpoch(p: PositionInput): EpochPosition {
  const { epoch, step } = p.counters;
  const complete = p.counters.batchInEpoch >= p.batches;
  const epochsDone = complete ? epoch + 1 : epoch;
  const { everyEpochs, everySteps } = p.checkpoint;
  const atStepMark = everySteps > 0 && step % everySteps === 0;
  return {
    epoch: epochsDone,
    complete,
    partial: complete ? [0, 0, 0] : [p.total[0] as number, p.total[1] as number, p.total[2] as number],
    checkpointDue: (everyEpochs > 0 && complete && epochsDone % everyEpochs === 0) || atStepMark || p.stopEarly,
  };
}

export interface SummaryInput {
  /** 0-based epoch that ran. */
  epoch: number;
  epochs: number;
  step: number;
  lr: number;
  train: SplitMetrics;
  val: SplitMetrics;
  tally: EpochTally;
  /** Rows of skipped steps over every rank (the totals' fourth value). */
  skippedRows: number;
  seconds: number;
  evalSeconds: number;
  time: StepTimes;
  firstGradNorm: number | undefined;
  stepsInEpoch: number;
  improved: boolean;
  stopEarly: boolean;
  sparsity: number | undefined;
}

export function epochSummary(s: SummaryInput): EpochSummary {
  const t = s.tally;
  return {
    epoch: s.epoch + 1,
    epochs: s.epochs,
    step: s.step,
    lr: s.lr,
    train: s.train,
    val: s.val,
    seconds: s.seconds,
    samplesPerSec: (s.train.samples + s.skippedRows) / s.seconds,
    evalSamplesPerSec: s.val.samples / s.evalSeconds,
    time: s.time,
    gradNorm: t.applied > 0 ? t.normSum / t.applied : NaN,
    maxGradNorm: t.applied > 0 ? t.maxNorm : NaN,
    firstGradNorm: s.firstGradNorm ?? NaN,
    stepsInEpoch: s.stepsInEpoch,
    clippedSteps: t.clipped,
    skippedSteps: t.skipped,
    improved: s.improved,
    stopEarly: s.stopEarly,
    sparsity: s.sparsity,
  };
}
