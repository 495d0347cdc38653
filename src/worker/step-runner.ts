/**
 * One optimizer step of one rank, as a unit: its micro-batches' forward and backward passes
 * (added up locally, DDP's no_sync), one all-reduce of the step buffer, the averaged loss and
 * gradient made the step's, the non-finite guard and clipping on those shared values, and the
 * optimizer update. It returns what the step did; counting it into the epoch is the caller's
 * (epoch-tally.ts), and so is everything that depends on where the epoch stands.
 *
 * Every decision here reads the all-reduced buffer, identical on every rank, so every rank
 * takes the same one without another collective.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Communicator } from '../allreduce';
import type { OverlapPolicy } from '../config';
import type { Batch } from '../data';
import type { WorkerMetrics } from '../observe';
import type { DiagnosticsInput } from '../record';
import {
  applyMask,
  clipToNorm,
  forwardBackward,
  globalNorm,
  overlappedBackward,
  type BackwardSegment,
  type FlatOptimizer,
  type FusedStep,
  type RangeReducer,
  type SegmentSpan,
  type LocalGradients,
  type LocalStepResult,
  type LossOptions,
  type ParamLayout,
} from '../train';
import type { NonFiniteGuard } from './nonfinite-guard';
import { OverlapTuner, type OverlapTrial } from './overlap-tuner';
import { StepBuffer, stepBufferLength } from './step-buffer';
import type { StepClock } from './step-clock';
import type { TrainCounters } from './train-state';

/** What a step runs on; the same objects the loop holds, so a test's patch of one is seen here. */
export interface StepParts {
  comm: Communicator;
  model: tfl.LayersModel;
  layout: ParamLayout;
  /** The model's non-trainable buffers (batch-norm statistics), averaged with the gradients. */
  buffers: ParamLayout;
  /** Master copy of the trainable weights. */
  params: Float32Array;
  /** train.prune's mask (1 live, 0 pruned); undefined without pruning. */
  mask: Float32Array | undefined;
  optimizer: FlatOptimizer;
  /** The native fused step, when the model and loss allow it; else the tfjs step runs. */
  fused: FusedStep | undefined;
  lossOptions: LossOptions;
  /** The loss has class weights: the averaged loss and gradient divide by the mean weight. */
  weighted: boolean;
  /** train.clipNorm (0 = off). */
  clipNorm: number;
  /** train.accumulate: micro-batches per optimizer step. */
  accumulate: number;
  guard: NonFiniteGuard;
  metrics?: WorkerMetrics;
  /** train.overlapBackward: whether the fused step's backward pass overlaps the all-reduce where it can. */
  overlap?: OverlapPolicy;
  /** overlap auto's trial (overlap-tuner.ts's default when absent). */
  overlapTrial?: OverlapTrial;
  /** overlap auto decided, from every rank's mean step seconds with and without overlap. */
  onOverlapTuned?: (overlap: boolean, secondsWith: number, secondsWithout: number) => void;
}

/** Where a step's micro-batches come from (data/prefetch.ts's BatchPipeline). */
export interface BatchSource {
  get(b: number): Batch;
  /** Gathers batch `b` ahead, while the step's all-reduce is in flight. */
  prepare(b: number): void;
}

export interface StepInput {
  /** The epoch's batches [from, to) are this step's micro-batches. */
  from: number;
  to: number;
  /** Row count of each of the epoch's batches. */
  rows: (b: number) => number;
  /** Batches the epoch has: the one after `to`, if any, is gathered during the all-reduce. */
  batchCount: number;
  batches: BatchSource;
  /** 0-based epoch, for the guard's message and the diagnostics. */
  epoch: number;
  /** Where training stands before this step (the guard counts skipped steps in it). */
  counters: TrainCounters;
  lr: number;
  momentum: number | undefined;
  clock: StepClock;
  /** Called before every micro-batch; throws to abandon the step (the job failed elsewhere). */
  checkAbort?: () => void;
  /** Asked before an applied update; true keeps the weights before it for `onDiagnostics`. */
  wantsDiagnostics?: () => boolean;
  onDiagnostics?: (d: DiagnosticsInput) => void;
}

export interface StepResult {
  /** The step's averaged loss over every rank (NaN or infinite when the step was skipped). */
  loss: number;
  /** Global gradient norm before clipping. */
  norm: number;
  /** The update was applied (false: a non-finite step skipped by train.nonFinite=skip). */
  applied: boolean;
  /** Clipping scaled the gradient down. */
  clipped: boolean;
  /** This rank's rows, correct predictions and sum of loss x rows over the step's micro-batches. */
  rows: number;
  correct: number;
  lossSum: number;
  micro: number;
  /** The step's train sums over every rank (loss x rows, correct, rows): what a re-formed ring is handed. */
  global: [number, number, number];
}

/** This rank's side of the step so far: its micro-batches' sums and the last one's gradients. */
interface LocalPass {
  rows: number;
  correct: number;
  lossSum: number;
  grads: LocalGradients['grads'] | undefined;
  /** When the last micro-batch's compute ended. */
  t0: bigint;
  /** The all-reduce already under way, when the backward pass overlapped it. */
  reduced?: Promise<void>;
}

/**
 * The fewest parameters a segment of an overlapped backward pass sends (256 KB of float32):
 * smaller buckets would go out latency-bound, and one more pause costs an event-loop turn.
 */
const OVERLAP_MIN_ELEMENTS = 65_536;

export class StepRunner {
  /** The fused step updates the flat weights only: the tfjs variables lag until syncModel. */
  private modelStale = false;
  /** Where the fused step's backward pass pauses to hand gradients to the all-reduce. */
  private segments: BackwardSegment[] | undefined;
  /** overlap auto's trial, once this ring can overlap at all. */
  private tuner: OverlapTuner | undefined;
  /** Whether the running step of overlap auto's trial overlapped: what the tuner records. */
  private tried: { overlapped: boolean } | undefined;

  private constructor(
    private readonly p: StepParts,
    /** The step's all-reduced buffer (step-buffer.ts). */
    readonly buffer: StepBuffer,
  ) {}

  /**
   * Collective: the buffer may be this rank's half of a file shared with the peer, or its own
   * WebAssembly memory, where the all-reduce sums with SIMD.
   */
  static async allocate(p: StepParts): Promise<StepRunner> {
    const all = await p.comm.allocateShared(stepBufferLength(p.layout.size, p.buffers.size));
    return new StepRunner(p, new StepBuffer(all, p.layout.size));
  }

  /** Zeroes the buffer before an epoch's first step. */
  reset(): void {
    this.buffer.clear(this.p.fused !== undefined);
  }

  async run(s: StepInput): Promise<StepResult> {
    const started = s.clock.now();
    this.tried = undefined;
    const local = await this.computeLocal(s);
    await this.allReduce(s, local);
    const t0 = s.clock.now();
    const step = this.buffer;
    if (step.modelBuffers.length > 0) this.p.buffers.writeWeights(step.modelBuffers);
    const global: [number, number, number] = [0, 0, 0];
    const micro = s.to - s.from;
    const loss = step.finish(this.p.comm.worldSize, micro, this.p.weighted, global);
    const { applied, clipped, norm } = this.update(s, loss);
    s.clock.timed('update', t0);
    step.clear(this.p.fused !== undefined);
    // Only a step of overlap auto's trial has anything to record (no await on every other step).
    if (this.tried !== undefined) await this.tune(s.clock.since(started));
    return {
      loss,
      norm,
      applied,
      clipped,
      rows: local.rows,
      correct: local.correct,
      lossSum: local.lossSum,
      micro,
      global,
    };
  }

  /** Brings the tfjs variables up to the flat weights, before anything reads the model. */
  syncModel(): void {
    if (!this.modelStale) return;
    this.p.layout.writeWeights(this.p.params);
    this.modelStale = false;
  }

  /** The step's micro-batches on this rank; every gradient but the last one's is added in locally. */
  private async computeLocal(s: StepInput): Promise<LocalPass> {
    const step = this.buffer;
    const pass: LocalPass = { rows: 0, correct: 0, lossSum: 0, grads: undefined, t0: 0n };
    for (let b = s.from; b < s.to; b++) {
      s.checkAbort?.();
      let t0 = s.clock.now();
      if (b === s.from) s.clock.startStep(t0);
      const batch = s.batches.get(b);
      t0 = s.clock.timed('data', t0);
      const rows = s.rows(b);
      const reducer = b + 1 === s.to ? this.overlapReducer() : undefined;
      let local: LocalStepResult & { grads?: LocalGradients['grads'] };
      if (reducer === undefined) {
        local = this.localStep(batch, rows, b > s.from, step.all);
        step.addLocal(local, rows);
      } else {
        local = await this.overlappedStep(s, batch, rows, b > s.from, reducer);
        pass.reduced = reducer.done();
      }
      pass.lossSum += local.loss * rows;
      this.p.metrics?.samplesTotal.inc(rows);
      pass.rows += rows;
      pass.correct += local.correct;
      if (b + 1 < s.to) {
        // An earlier micro-batch of the step (no_sync): add its gradients locally.
        if (local.grads !== undefined) {
          this.p.layout.packGradients(local.grads, step.all, b > s.from);
          tf.dispose(Object.values(local.grads));
        }
        s.clock.timed('compute', t0);
        continue;
      }
      pass.grads = local.grads;
      pass.t0 = s.clock.timed('compute', t0);
    }
    return pass;
  }

  /**
   * One all-reduce per optimizer step; the next batch is gathered while it is in flight. Each
   * rank's forward passes moved its batch-norm statistics on its own shard; averaged here, every
   * replica evaluates, checkpoints and exports the same ones (PyTorch DDP broadcasts rank 0's
   * instead), at no extra latency.
   */
  private async allReduce(s: StepInput, local: LocalPass): Promise<void> {
    const { comm, layout } = this.p;
    const { clock } = s;
    const step = this.buffer;
    const t0 = local.t0;
    if (step.modelBuffers.length > 0) this.p.buffers.readWeights(step.modelBuffers);
    // The gradients are read off the device bucket by bucket, each just before it is reduced,
    // so a bucket is on the wire while the next is read (DDP's overlap). Reading counts as
    // compute, as it did when it followed the backward pass.
    let packSeconds = 0;
    let reduced: Promise<void>;
    const grads = local.grads;
    const accumulate = s.to - s.from > 1;
    try {
      reduced =
        local.reduced ??
        comm.allReduceMean(
          step.all,
          (start, end) => {
            if (grads === undefined) return; // the fused step wrote them in place
            const p0 = clock.now();
            layout.packRange(grads, step.all, start, Math.min(end, layout.size), accumulate);
            packSeconds += clock.since(p0);
          },
          this.meanIsGradient() ? layout.size : undefined,
        );
    } finally {
      // Every bucket is packed before allReduceMean first yields.
      if (grads !== undefined) tf.dispose(Object.values(grads));
    }
    const prep = clock.now();
    // Reading the gradients out and handing them to the all-reduce (its sends are under way).
    clock.span('send gradients', t0, prep);
    const next = s.to < s.batchCount;
    if (next) s.batches.prepare(s.to);
    const prepSeconds = clock.since(prep);
    const ready = clock.now();
    if (next) clock.span('prepare next batch', prep, ready);
    await reduced;
    clock.add('compute', packSeconds);
    clock.add('data', prepSeconds);
    clock.communicated(clock.since(t0) - prepSeconds - packSeconds, ready, comm.lastFirstArrival);
  }

  /** Guard, clip and apply the averaged gradient (identical bytes on every rank). */
  private update(s: StepInput, loss: number): { applied: boolean; clipped: boolean; norm: number } {
    const { mask, params, layout } = this.p;
    const g = this.buffer.gradients;
    // Pruned weights get no gradient: not in the norm, the clipping or the update.
    if (mask !== undefined) applyMask(g, mask);
    // A shared-file pair read the squares while it summed (both ranks got the same number),
    // saving a pass; otherwise the norm of the identical bytes every rank holds.
    const squares = this.meanIsGradient() ? this.p.comm.lastSumSquares : undefined;
    const norm = squares === undefined ? globalNorm(g) : Math.sqrt(squares);
    if (!Number.isFinite(norm) || !Number.isFinite(loss)) {
      this.p.guard.skip(s.counters, loss, norm, s.epoch);
      return { applied: false, clipped: false, norm };
    }
    this.p.guard.applied();
    const clipped = clipToNorm(g, norm, this.p.clipNorm) < 1;
    const before = s.wantsDiagnostics?.() === true ? params.slice() : undefined;
    this.p.optimizer.step(params, g, s.lr, s.momentum);
    // Momentum and weight decay would move pruned weights off 0.
    if (mask !== undefined) applyMask(params, mask);
    if (this.p.fused === undefined) layout.writeWeights(params);
    else this.modelStale = true;
    if (before !== undefined)
      s.onDiagnostics?.({
        epoch: s.epoch + 1,
        step: s.counters.step + 1,
        slots: layout.slots,
        grads: g,
        before,
        after: params,
      });
    return { applied: true, clipped, norm };
  }

  /** True when the all-reduced mean is the step's gradient as is: finish() and no mask change it. */
  private meanIsGradient(): boolean {
    return this.p.accumulate === 1 && !this.p.weighted && this.p.mask === undefined;
  }

  /**
   * The overlapped all-reduce of the step buffer, when the fused step can pause (the model has
   * something to overlap) and the ring's path is messages (Communicator.overlapped); every rank
   * decides alike from the model, the job and the ring.
   */
  private overlapReducer(): RangeReducer | undefined {
    const { fused, comm, overlap = 'off' } = this.p;
    if (fused === undefined || overlap === 'off' || this.buffer.modelBuffers.length > 0) return undefined;
    this.segments ??= fused.segments(OVERLAP_MIN_ELEMENTS);
    if (this.segments.length < 2 || !comm.canOverlap()) return undefined;
    if (overlap === 'auto') {
      this.tuner ??= new OverlapTuner(this.p.overlapTrial);
      const overlapNext = this.tuner.overlapNext;
      if (this.tuner.inTrial) this.tried = { overlapped: overlapNext };
      if (!overlapNext) return undefined;
    }
    return comm.overlapped(this.buffer.all);
  }

  /**
   * overlap auto: counts the step in the trial, and at its end all-reduces every rank's means
   * and keeps the faster way (a collective every rank reaches at the same step).
   */
  private async tune(seconds: number): Promise<void> {
    const { tuner, tried } = this;
    if (tuner === undefined || tried === undefined) return;
    tuner.record(tried.overlapped, seconds);
    if (!tuner.due) return;
    const means = new Float32Array(tuner.means());
    await this.p.comm.allReduceMean(means);
    const [withOverlap, without] = [means[0] as number, means[1] as number];
    this.p.onOverlapTuned?.(tuner.decide(withOverlap, without), withOverlap, without);
  }

  /** The last micro-batch with its backward pass in segments, each handed to `reducer` when done. */
  private overlappedStep(
    s: StepInput,
    batch: Batch,
    rows: number,
    accumulate: boolean,
    reducer: RangeReducer,
  ): Promise<LocalStepResult> {
    const segments = this.segments as BackwardSegment[];
    const { clock } = s;
    const input = {
      params: this.p.params,
      all: this.buffer.all,
      x: batch.x,
      y: batch.y,
      rows,
      accumulate,
      loss: this.lossFor(batch),
    };
    const span: SegmentSpan = (i, from, to, reduced) => {
      clock.span(`backward, segment ${i + 1} of ${segments.length}`, from, to);
      reduced.then(
        () => clock.span(`all-reduce of segment ${i + 1}`, to, clock.now(), 'wire'),
        () => undefined,
      );
    };
    return overlappedBackward(
      this.p.fused as FusedStep,
      segments,
      input,
      reducer,
      (local) => this.buffer.addLocal(local, rows),
      span,
      () => clock.now(),
    );
  }

  /**
   * The job's loss options with the batch's targets. Written out rather than spread: V8 gives
   * some spread objects a hidden class of their own, which outlives scavenges (GC pauses).
   */
  private lossFor(batch: Batch): LossOptions {
    const o = this.p.lossOptions;
    return { labelSmoothing: o.labelSmoothing, classWeights: o.classWeights, distill: o.distill, targets: batch.t };
  }

  /**
   * One micro-batch's forward and backward: the fused step writes its gradients into `into`
   * (added with `accumulate`) and returns no tensors; the tfjs step returns them for packing.
   */
  private localStep(
    batch: Batch,
    rows: number,
    accumulate: boolean,
    into: Float32Array,
  ): LocalStepResult & { grads?: LocalGradients['grads'] } {
    const loss = this.lossFor(batch);
    if (this.p.fused !== undefined)
      return this.p.fused.run(this.p.params, into, batch.x, batch.y, rows, accumulate, loss);
    return forwardBackward(this.p.model, this.p.layout, batch.x, batch.y, rows, loss);
  }
}
