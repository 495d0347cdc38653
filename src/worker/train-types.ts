/**
 * The training loop's seams: what it is given (options, data, hooks) and what it reports
 * (per-epoch summaries, the final result). Kept apart so callers can read the contract without
 * the loop.
 */
import type { DiagnosticsInput, StepInfo } from '../record';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Communicator } from '../allreduce';
import type { JobSpec } from '../config';
import type { Augmentation, RowSource } from '../data';
import type { Logger, WorkerMetrics } from '../observe';
import type { Clock } from './clock';
import type { OverlapTrial } from './overlap-tuner';
import type { SplitMetrics } from './evaluate-split';

export interface LoopData {
  train: RowSource;
  /** Held-out split or the test set; evaluated after every epoch. */
  val: RowSource;
}

export interface StepTimes {
  data: number;
  compute: number;
  communication: number;
  update: number;
  /**
   * The part of `communication` spent ready but waiting for the first message of a neighbour:
   * time lost to a slower rank (a straggler, a pause), not to the exchange itself.
   */
  peerWait: number;
}

export interface EpochSummary {
  /** 1-based. */
  epoch: number;
  epochs: number;
  step: number;
  /** lr of the epoch's last step. */
  lr: number;
  train: SplitMetrics;
  val: SplitMetrics;
  /** Training wall time of the epoch (without validation). */
  seconds: number;
  samplesPerSec: number;
  evalSamplesPerSec: number;
  time: StepTimes;
  /** Mean global gradient norm before clipping, over the epoch's applied steps. */
  gradNorm: number;
  /** The largest of those norms: the exploding-gradient check judges it. */
  maxGradNorm: number;
  /** The norm of the first step this process applied (the check's baseline for growth). */
  firstGradNorm: number;
  /** Optimizer steps the epoch has (applied and skipped). */
  stepsInEpoch: number;
  clippedSteps: number;
  skippedSteps: number;
  /** The monitored metric improved on the best so far. */
  improved: boolean;
  /** Early stopping ends training after this epoch. */
  stopEarly: boolean;
  /** With train.prune: the share of kernel weights that are 0 at the epoch's end. */
  sparsity?: number;
}

export interface TrainHooks {
  /** Throws to abandon training (the job failed elsewhere); called before every micro-batch. */
  checkAbort?(): void;
  /** After every optimizer step. */
  onStep?(step: number, epoch: number): void;
  /** train.overlapBackward auto chose, from every rank's trial means (the same choice on every rank). */
  onOverlapTuned?(overlap: boolean): void;
  /** After every optimizer step, with its loss, samples, lr and time split (RunRecorder.onStep). */
  onStepDetail?(s: StepInfo): void;
  /** Asked before each applied step; true makes the loop snapshot the weights for onDiagnostics. */
  wantsDiagnostics?(stepInEpoch: number, stepsInEpoch: number): boolean;
  /** The step's averaged (clipped) gradient and the weights before and after it. */
  onDiagnostics?(d: DiagnosticsInput): void;
  /** After every epoch's validation, before its checkpoint (if one is due) is written. */
  onEpoch?(e: EpochSummary): Promise<void> | void;
  /** Passed to checkpoint writes (crash tests kill the process from here). */
  onCheckpointProgress?(written: number, total: number): void;
  /** A checkpoint could not be written: rethrow to fail, or return to train on without it (full-disk.ts). */
  onWriteFailed?(what: string, e: unknown): void;
}

export interface TrainLoopOptions {
  spec: JobSpec;
  comm: Communicator;
  model: tfl.LayersModel;
  data: LoopData;
  shard: { seed: number; shuffle: boolean; dropLast: boolean };
  /** Rank 0 writes checkpoints here; '' = never. */
  checkpointDir: string;
  /** Checkpoint, checkpoint directory or run directory to resume from. */
  resumeFrom?: string;
  log: Logger;
  metrics?: WorkerMetrics;
  hooks?: TrainHooks;
  /** Training-batch augmentation (data/epoch-batches.ts): inline or by threads; deterministic per sample. */
  augment?: Augmentation;
  /** Record what each step did with real times (StepInfo.spans), for a trace. */
  traceSpans?: boolean;
  /** overlap auto's trial (tests shorten it); overlap-tuner.ts's default when absent. */
  overlapTrial?: OverlapTrial;
  /** train.distill's teacher, loaded (fine-tune.ts); required when train.distill.teacher is set. */
  teacher?: tfl.LayersModel;
  /** Times the steps and the epoch (default: the process's monotonic clock). */
  clock?: Clock;
}

export interface TrainResult {
  steps: number;
  /** Summary of the last epoch run. */
  last?: EpochSummary;
  /** Validation metrics of the weights training ends with (the best epoch's after restoreBest). */
  val?: SplitMetrics;
  stoppedEarly: boolean;
  /** 1-based epoch whose weights were put back by restoreBest (0 = none). */
  restoredEpoch: number;
  skippedSteps: number;
  resumedFrom?: string;
  /** With train.prune: the final sparsity and the val metrics just before pruning began. */
  pruning?: { sparsity: number; before?: { epoch: number; loss: number; accuracy: number } };
}
