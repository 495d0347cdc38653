/**
 * What a training loop hands the RunRecorder, and the small pure helpers around it. Kept apart
 * from the recorder so the loop (and its tests) can import the shapes without the writers.
 */
import type { Logger, StepPoint, StepTiming, HistogramData } from '../observe';
import type { Histogram, VariableSlot } from '../train';
import type { Registry } from 'prom-client';
import type { RankTiming } from './run-files';

/** Where step points and timing go (the coordinator client, adapted by the worker). */
export interface ProgressSink {
  sendProgress(update: { step: number; samples: number; points: StepPoint[]; timing: StepTiming }): Promise<void>;
}

export interface RunRecorderOptions {
  /** The run directory. */
  dir: string;
  rank: number;
  worldSize: number;
  epochs: number;
  log?: Logger;
  sink?: ProgressSink;
  registry?: Registry;
  /** Milliseconds since the epoch; tests inject a fake. */
  clock?: () => number;
  /** Least time between two `progress` log lines. */
  progressIntervalMs?: number;
  /** Least time between two sends to the coordinator. */
  sinkIntervalMs?: number;
  /** Steps over which samples/s is measured. */
  throughputWindow?: number;
  /** Keep a step's point (files, TensorBoard, live page) every this many steps and at epoch ends (default 1: every step). */
  logEverySteps?: number;
}

export interface StepInfo {
  /** 1-based epoch. */
  epoch: number;
  /** Global optimizer steps done, this one included. */
  step: number;
  /** Steps done in this epoch, this one included (1-based), and the epoch's total. */
  stepInEpoch: number;
  stepsInEpoch: number;
  /** This rank's batch loss and correct predictions, and its batch size. */
  loss: number;
  correct?: number;
  samples: number;
  lr: number;
  /** The momentum or Adam beta1 the schedule set for this step (onecycle); absent when fixed. */
  momentum?: number;
  /** The step's time split; peerWait is the part of communication spent waiting for a slower rank. */
  seconds: { data: number; compute: number; communication: number; update: number; peerWait?: number };
  /** What the rank did during the step, in order, with real times (only when a trace is written). */
  spans?: StepSpan[];
}

/** One stretch of a step: what ran, from when to when (performance.now() milliseconds). */
export interface StepSpan {
  name: string;
  startMs: number;
  endMs: number;
  /** 'wire': an all-reduce in flight while the step computes on (a track of its own in a trace). */
  track?: 'wire';
}

export interface DiagnosticsInput {
  epoch: number;
  step: number;
  slots: readonly VariableSlot[];
  /** The averaged gradient the step applied, and the weights before and after it. */
  grads: Float32Array;
  before: Float32Array;
  after: Float32Array;
}

/** One split's epoch metrics: accuracy is NaN for regression, which has mse (and val mae, r2) instead. */
export interface EpochSplit {
  loss: number;
  accuracy: number;
  mse?: number;
  mae?: number;
  r2?: number;
}

/** The TensorBoard scalars of a split: accuracy for classification, the error measures for regression. */
export function splitScalars(m: EpochSplit): Record<string, number> {
  const out: Record<string, number> = { 'epoch/loss': m.loss };
  if (!Number.isNaN(m.accuracy)) out['epoch/accuracy'] = m.accuracy;
  for (const key of ['mse', 'mae', 'r2'] as const) {
    const v = m[key];
    if (v !== undefined) out[`epoch/${key}`] = v;
  }
  return out;
}

export interface EpochInput {
  epoch: number;
  step: number;
  train: EpochSplit;
  val: EpochSplit;
  /** Global training samples/s over the epoch. */
  samplesPerSec: number;
  /**
   * Mean and largest global gradient norm of the epoch's applied steps (NaN when none was
   * applied), and the run's first step's norm, the baseline for growth.
   */
  gradNorm?: { mean: number; max: number; first?: number };
  /** Optimizer steps the non-finite guard skipped, of the epoch's `stepsInEpoch`. */
  skippedSteps?: number;
  stepsInEpoch?: number;
  /** Every rank's timing for this epoch: `packEpochTiming()` all-reduce-summed, or omitted (then only this rank's). */
  ranks?: Float32Array;
}

export const PROGRESS_INTERVAL_MS = 500;
export const SINK_INTERVAL_MS = 1000;
export const THROUGHPUT_WINDOW = 20;
/** steps.jsonl lines buffered before one append. */
export const STEP_LINES_PER_WRITE = 256;
/** Numbers per rank in packEpochTiming's buffer. */
export const TIMING_FIELDS = 7;

export function unpackTiming(buf: Float32Array, worldSize: number): RankTiming[] {
  return Array.from({ length: worldSize }, (_, rank) => {
    const at = rank * TIMING_FIELDS;
    const v = (i: number): number => buf[at + i] as number;
    return {
      rank,
      steps: v(0),
      samples: v(1),
      data: v(2),
      compute: v(3),
      communication: v(4),
      update: v(5),
      peerWait: v(6),
    };
  });
}

/** Our equal-width histogram as TensorBoard's HistogramProto (bucket i ends at limit i). */
export function toTensorBoard(h: Histogram): HistogramData {
  return {
    min: h.min,
    max: h.max,
    num: h.count,
    sum: h.sum,
    sumSquares: h.sumSquares,
    bucketLimits: h.edges.slice(1),
    buckets: h.counts.slice(),
  };
}
