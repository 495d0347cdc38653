/**
 * The training loop of one rank, top to bottom, network-agnostic (it only sees a Communicator),
 * so the same code runs in the worker process over gRPC and in unit tests over the in-memory ring.
 *
 * Every decision that changes the weights is taken from values all ranks share:
 * - the gradient (and the loss riding in its last slot) is all-reduced once per optimizer step,
 *   after k micro-batches added up locally (DDP's no_sync): step-runner.ts;
 * - clipping and the non-finite guard look at that averaged buffer, identical on every rank;
 * - the schedule is a function of (epoch, step), and plateau/early stopping read the all-reduced
 *   validation metric;
 * - checkpoints and their resume position are decided by step/epoch counters every rank keeps
 *   (epoch-tally.ts).
 * So replicas stay bit-identical without exchanging weights after the first broadcast.
 */
import { lineAlignedFloats } from '../native';
import { batchIndices, epochBatches, epochSampler, type EpochBatches, type EpochSampler } from '../data';
import {
  FusedStep,
  ParamLayout,
  frozenLayers,
  noDecayRanges,
  optimizerOf,
  sparsityOf,
  stepFeatures,
  type FlatOptimizer,
  type LossOptions,
} from '../train';
import type { Checkpoint } from './checkpoint-store';
import { systemClock, type Clock } from './clock';
import {
  addStep,
  epochSummary,
  midEpochCheckpointDue,
  monitoredValue,
  positionAfterEpoch,
  startTally,
  stepRanges,
  trainMetrics,
  type EpochTally,
} from './epoch-tally';
import { evaluateSplit, withoutConfusion } from './evaluate-split';
import { lossOptionsOf, pruneForEpoch } from './loop-extras';
import { NonFiniteGuard } from './nonfinite-guard';
import { overlapTunedLine } from './overlap-tuner';
import { liveSnapshot, writeLoopCheckpoint } from './loop-checkpoints';
import { agreeOnStart, takeLiveState } from './loop-start';
import { broadcastWeights, freshCounters, reshard, restoreReplica, weightNamesOf, type Replica } from './replica';
import { StepClock } from './step-clock';
import { scheduleOf } from './schedule-of';
import { chooseStep } from './step-path';
import { StepRunner } from './step-runner';
import type { EpochSummary, TrainLoopOptions, TrainResult } from './train-types';
import type { TrainCounters } from './train-state';

export type { EpochSummary, LoopData, StepTimes, TrainHooks, TrainLoopOptions, TrainResult } from './train-types';

/** An epoch under way: its batches in order and how its time is kept. */
interface EpochRun {
  /** 0-based. */
  epoch: number;
  batches: Int32Array[];
  pipeline: EpochBatches;
  clock: StepClock;
  stepsInEpoch: number;
}

export class TrainLoop {
  readonly layout: ParamLayout;
  readonly buffers: ParamLayout;
  /** Weights of frozen layers (model.freeze): outside `layout`, so never all-reduced or updated. */
  readonly frozen: ParamLayout;
  /**
   * What this job's step does beyond plain forward/backward (train-step.ts stepFeatures): a
   * step computed another way must decline when this is not empty.
   */
  readonly stepFeatures: readonly string[];
  /** Master copy of the trainable weights; the optimizer updates it, then the tfjs variables. */
  readonly params: Float32Array;
  readonly optimizer: FlatOptimizer;
  /** The native fused step when the model and loss allow it (fused-step.ts); else the tfjs step runs. */
  readonly fused: FusedStep | undefined;
  /** Why the tfjs step runs, when it does. */
  readonly fusedWhy: string | undefined;
  private readonly replica: Replica;
  /** How every micro-batch's loss is taken, but for its regression targets. */
  private readonly lossOptions: LossOptions;
  /** The optimizer's own momentum (Adam: beta1), for the gauge when no schedule moves it. */
  private readonly fixedMomentum: number;
  private readonly guard: NonFiniteGuard;
  private readonly clock: Clock;
  /** Which samples each epoch draws (data.sampler). */
  private readonly sampler: EpochSampler;
  /** Allocated by initialize (collectively: its buffer may be half of a file shared with the peer). */
  private runner: StepRunner | undefined;
  /**
   * This epoch's train sums (loss x rows, correct, rows) over every rank, to the last step: what
   * a survivor hands a re-formed ring. The epoch line itself keeps its own exact float32 sums
   * (one small all-reduce at the end): these ride the gradients' wire, which may be fp16/bf16.
   */
  private running: [number, number, number] = [0, 0, 0];
  /** The global gradient norm of this process's first applied step: the exploding check's baseline. */
  private firstNorm: number | undefined;
  private c: TrainCounters;

  constructor(private readonly o: TrainLoopOptions) {
    const { spec, comm, model } = o;
    const t = spec.train;
    this.clock = o.clock ?? systemClock;
    this.sampler = epochSampler(spec.data.sampler, o.data.train);
    this.fixedMomentum = t.optimizer === 'adam' || t.optimizer === 'adamw' ? t.beta1 : t.momentum;
    const frozen = new Set(frozenLayers(model, spec.model));
    this.layout = ParamLayout.ofModel(model, frozen);
    this.frozen = ParamLayout.frozenOf(model, frozen);
    this.buffers = ParamLayout.buffersOf(model);
    const mask = t.prune.sparsity > 0 ? new Float32Array(this.layout.size).fill(1) : undefined;
    this.lossOptions = lossOptionsOf(t, o.data, o.teacher);
    this.stepFeatures = stepFeatures(this.lossOptions, this.layout, mask !== undefined);
    this.params = lineAlignedFloats(this.layout.size);
    this.optimizer = optimizerOf(t, this.layout.size, noDecayRanges(t, this.layout.slots));
    const fused = chooseStep(t.fusedStep, this.stepFeatures, model, this.layout, o.data.train.targets);
    this.fused = fused.step;
    this.fusedWhy = fused.why;
    const { schedule, early } = scheduleOf(spec, o.data.train.count, comm.worldSize, o.shard.dropLast);
    this.replica = {
      layout: this.layout,
      buffers: this.buffers,
      frozen: this.frozen,
      params: this.params,
      mask,
      optimizer: this.optimizer,
      schedule,
      early,
      best: undefined,
    };
    this.guard = new NonFiniteGuard(t, comm.rank, o.log, o.metrics);
    this.c = freshCounters(this.replica, spec.name, t.optimizer, comm.worldSize);
  }

  get counters(): Readonly<TrainCounters> {
    return this.c;
  }

  /** The lr of the next optimizer step. */
  currentLr(): number {
    return this.replica.schedule.lrAt(this.tick());
  }

  /** The schedule's tick of the next optimizer step (its interval: optimizer steps or epochs). */
  private tick(): number {
    return this.o.spec.train.schedule.interval === 'step' ? this.c.step : this.c.epoch;
  }

  /**
   * Start state: rank 0's checkpoint when rank 0 resumes, else rank 0's freshly built weights.
   * Returns where the state came from when it was a checkpoint.
   */
  async initialize(elastic?: { sourceRank: number; state?: Checkpoint }): Promise<string | undefined> {
    const { comm, log } = this.o;
    this.runner = await StepRunner.allocate({
      comm,
      model: this.o.model,
      layout: this.layout,
      buffers: this.buffers,
      params: this.params,
      mask: this.replica.mask,
      optimizer: this.optimizer,
      fused: this.fused,
      lossOptions: this.lossOptions,
      weighted: this.lossOptions.classWeights !== undefined,
      clipNorm: this.o.spec.train.clipNorm,
      accumulate: this.o.spec.train.accumulate,
      guard: this.guard,
      metrics: this.o.metrics,
      overlap: this.o.spec.train.overlapBackward,
      overlapTrial: this.o.overlapTrial,
      onOverlapTuned: (overlap, secondsWith, secondsWithout) => this.overlapTuned(overlap, secondsWith, secondsWithout),
    });
    if (elastic !== undefined && elastic.sourceRank >= 0) return this.takeLiveState(elastic.sourceRank, elastic.state);
    const { start, where } = await agreeOnStart(comm, log, this.o.resumeFrom);
    if (start.kind === 'resume') {
      this.restore(start.ckpt, where);
      if (comm.rank === 0)
        log.info(
          { event: 'resumed', dir: where, epoch: this.c.epoch, batchInEpoch: this.c.batchInEpoch, step: this.c.step },
          `resumed from ${where}: epoch ${this.c.epoch + 1}, batch ${this.c.batchInEpoch}, step ${this.c.step}`,
        );
      return where;
    }
    await broadcastWeights(this.replica, comm);
    // The very weights step 1 starts from, so a run can be replayed from them elsewhere.
    if (this.o.spec.checkpoint.atStart) this.writeCheckpoint();
    return undefined;
  }

  /** A re-formed ring: the lowest surviving rank hands everyone its live state (no disk). */
  private async takeLiveState(sourceRank: number, state: Checkpoint | undefined): Promise<string> {
    const { comm, log } = this.o;
    const { ckpt, where } = await takeLiveState(comm, sourceRank, state);
    this.restore(ckpt, where);
    if (comm.rank === 0)
      log.info(
        { event: 'state-synced', source: sourceRank, epoch: this.c.epoch, step: this.c.step },
        `took ${where}: epoch ${this.c.epoch + 1}, step ${this.c.step}`,
      );
    return where;
  }

  private restore(ckpt: Checkpoint, where: string): void {
    const { comm, log, spec } = this.o;
    const c = restoreReplica(this.replica, ckpt, where);
    this.c = {
      ...c,
      partial: [...c.partial],
      paramShapes: this.layout.shapes(),
      weightNames: weightNamesOf(this.replica),
    };
    if (reshard(this.c, spec.data.batchSize, comm.worldSize) && comm.rank === 0) {
      log.info(
        { event: 'reshard', from: c.worldSize, to: comm.worldSize, offset: this.c.epochOffset },
        `epoch ${c.epoch + 1} continues on ${comm.worldSize} workers (was ${c.worldSize}) from position ${this.c.epochOffset} of its order`,
      );
    }
  }

  /** Runs from the current position to the end (epochs, maxSteps or early stopping). */
  async run(): Promise<TrainResult> {
    const { spec, hooks } = this.o;
    const runner = this.runner;
    if (runner === undefined) throw new Error('TrainLoop.run before initialize');
    const t = spec.train;
    let last: EpochSummary | undefined;
    let stoppedEarly = false;
    const capped = (): boolean => t.maxSteps > 0 && this.c.step >= t.maxSteps;
    while (this.c.epoch < t.epochs && !stoppedEarly && !(capped() && this.c.batchInEpoch === 0)) {
      const { summary, checkpointDue } = await this.runEpoch(runner);
      last = summary;
      stoppedEarly = summary.stopEarly;
      // Metrics and reports first, checkpoint second: a kill in between resumes from the previous
      // checkpoint and repeats the epoch (the resume trims its metrics line), never the reverse
      // (a checkpoint past an epoch whose line was never written).
      await hooks?.onEpoch?.(summary);
      if (checkpointDue) this.writeCheckpoint();
      if (capped()) break;
    }
    const { restoredEpoch, val } = await this.restoreBest(last);
    const pruning =
      this.replica.mask === undefined
        ? undefined
        : { sparsity: sparsityOf(this.params, this.layout.slots), before: this.c.pruneBefore };
    return {
      steps: this.c.step,
      last,
      val,
      stoppedEarly,
      restoredEpoch,
      skippedSteps: this.c.nonFiniteSkipped,
      pruning,
    };
  }

  /** earlyStopping.restoreBest: the best epoch's weights back, when the last epoch was not it. */
  private async restoreBest(
    last: EpochSummary | undefined,
  ): Promise<{ restoredEpoch: number; val: EpochSummary['val'] | undefined }> {
    const { spec } = this.o;
    const es = this.replica.early.state();
    const best = this.replica.best;
    if (!spec.train.earlyStopping.restoreBest || best === undefined || es.bestEpoch === last?.epoch)
      return { restoredEpoch: 0, val: last?.val };
    this.params.set(best.params);
    this.layout.writeWeights(this.params);
    this.buffers.writeWeights(best.buffers);
    const val = await evaluateSplit(this.o.model, this.o.data.val, this.o.comm);
    if (this.o.comm.rank === 0)
      this.o.log.info(
        { event: 'restored-best', epoch: es.bestEpoch, best: es.best, val: withoutConfusion(val) },
        `restored the weights of epoch ${es.bestEpoch}, the best by val ${spec.train.monitor} (${es.best.toFixed(4)})`,
      );
    return { restoredEpoch: es.bestEpoch, val };
  }

  private async runEpoch(runner: StepRunner): Promise<{ summary: EpochSummary; checkpointDue: boolean }> {
    const run = await this.beginEpoch(runner);
    const started = this.clock.ns();
    const { tally, lr } = await this.trainSteps(runner, run);
    const seconds = run.clock.since(started);
    this.syncModel();
    return this.endEpoch(run, tally, lr, seconds);
  }

  /** The epoch's share of the data in order, pruning at its start, and a fresh step buffer. */
  private async beginEpoch(runner: StepRunner): Promise<EpochRun> {
    const { spec, comm, data } = this.o;
    const epoch = this.c.epoch;
    const indices = this.sampler({
      datasetSize: data.train.count,
      worldSize: comm.worldSize,
      rank: comm.rank,
      epoch,
      seed: this.o.shard.seed,
      shuffle: this.o.shard.shuffle,
      dropLast: this.o.shard.dropLast,
      offset: Math.min(this.c.epochOffset ?? 0, data.train.count),
    });
    const batches = batchIndices(indices, spec.data.batchSize);
    const mask = this.replica.mask;
    if (mask !== undefined && this.c.batchInEpoch === 0) {
      this.c.pruneBefore = await pruneForEpoch({
        ...this.o,
        epoch,
        params: this.params,
        mask,
        layout: this.layout,
        before: this.c.pruneBefore,
      });
    }
    const pipeline = epochBatches(data.train, batches, spec.data.batchSize, epoch, this.o.augment);
    const clock = new StepClock(this.o.metrics, this.o.traceSpans === true, this.clock);
    // The same sums made global after every step (they ride in the gradients' all-reduce), so
    // a ring that loses a rank mid-epoch still knows what the lost rank had trained.
    this.running = [this.c.partial[0], this.c.partial[1], this.c.partial[2]];
    runner.reset();
    return { epoch, batches, pipeline, clock, stepsInEpoch: Math.ceil(batches.length / spec.train.accumulate) };
  }

  /** The epoch's optimizer steps from the current position; returns their tally and the last lr. */
  private async trainSteps(runner: StepRunner, run: EpochRun): Promise<{ tally: EpochTally; lr: number }> {
    const { spec, comm, hooks, metrics } = this.o;
    const t = spec.train;
    const { epoch, batches, clock, stepsInEpoch } = run;
    let tally = startTally(this.c.partial, comm.rank);
    let lr = this.currentLr();
    for (const range of stepRanges(this.c.batchInEpoch, batches.length, t.accumulate)) {
      // One tick for both: onecycle's momentum moves with its lr.
      const tick = this.tick();
      lr = this.replica.schedule.lrAt(tick);
      const momentum = this.replica.schedule.momentumAt(tick);
      const stepInEpoch = Math.ceil(range.to / t.accumulate);
      // Properties written out, not `...range`: V8 gives an object spread followed by function
      // properties a fresh hidden class each time, and those outlive scavenges (GC pauses).
      const r = await runner.run({
        from: range.from,
        to: range.to,
        rows: (b) => (batches[b] as Int32Array).length,
        batchCount: batches.length,
        batches: run.pipeline,
        epoch,
        counters: this.c,
        lr,
        momentum,
        clock,
        checkAbort: () => hooks?.checkAbort?.(),
        wantsDiagnostics: () => hooks?.wantsDiagnostics?.(stepInEpoch, stepsInEpoch) === true,
        onDiagnostics: (d) => hooks?.onDiagnostics?.(d),
      });
      tally = addStep(tally, r);
      if (r.applied) this.firstNorm ??= r.norm;
      for (let i = 0; i < 3; i++) this.running[i] = (this.running[i] as number) + r.global[i]!;
      this.c.step += 1;
      this.c.batchInEpoch = range.to;
      metrics?.step.set(this.c.step);
      metrics?.learningRate.set(lr);
      metrics?.momentum.set(momentum ?? this.fixedMomentum);
      const split = clock.endStep();
      metrics?.allreduceBytes.inc(
        comm.worldSize > 1 ? (2 * (comm.worldSize - 1) * runner.buffer.all.byteLength) / comm.worldSize : 0,
      );
      hooks?.onStep?.(this.c.step, epoch);
      hooks?.onStepDetail?.({
        epoch: epoch + 1,
        step: this.c.step,
        stepInEpoch,
        stepsInEpoch,
        loss: r.loss,
        correct: r.correct,
        samples: r.rows,
        lr,
        momentum,
        seconds: split.seconds,
        spans: split.spans,
      });
      if (midEpochCheckpointDue(spec.checkpoint.everySteps, this.c.step, range.to >= batches.length))
        await this.checkpointMidEpoch(tally.sums);
      if (t.maxSteps > 0 && this.c.step >= t.maxSteps) break;
    }
    return { tally, lr };
  }

  /** All-reduced train figures, validation, the schedule's and early stopping's verdicts, the new position. */
  private async endEpoch(
    run: EpochRun,
    tally: EpochTally,
    lr: number,
    seconds: number,
  ): Promise<{ summary: EpochSummary; checkpointDue: boolean }> {
    const { spec, comm, data, metrics } = this.o;
    const t = spec.train;
    const { epoch } = run;
    const total = new Float32Array([...tally.sums, tally.skippedRows]);
    await comm.allReduceSum(total);
    const train = trainMetrics(total, data.train.targets !== undefined);
    const evalStart = this.clock.ns();
    const val = await evaluateSplit(this.o.model, data.val, comm);
    const evalSeconds = run.clock.since(evalStart);
    const monitored = monitoredValue(t.monitor, val);
    const { schedule, early } = this.replica;
    const tick = t.schedule.interval === 'step' ? this.c.step : epoch;
    if (schedule.observe(monitored, tick) && comm.rank === 0) {
      this.o.log.info(
        { event: 'lr-reduced', epoch: epoch + 1, lr: schedule.lrAt(tick) },
        `val ${t.monitor} stopped improving: lr reduced to ${schedule.lrAt(tick)}`,
      );
    }
    const verdict = early.update(monitored, epoch + 1);
    if (verdict.improved && t.earlyStopping.restoreBest) this.keepBest();
    const pos = positionAfterEpoch({
      counters: this.c,
      batches: run.batches.length,
      total,
      checkpoint: spec.checkpoint,
      stopEarly: verdict.stop,
    });
    this.c.epoch = pos.epoch;
    if (pos.complete) {
      this.c.batchInEpoch = 0;
      this.c.epochOffset = 0;
    }
    this.c.partial = pos.partial;
    metrics?.epoch.set(epoch + 1);
    metrics?.loss.set({ split: 'train' }, train.loss);
    metrics?.loss.set({ split: 'val' }, val.loss);
    metrics?.accuracy.set({ split: 'train' }, train.accuracy);
    metrics?.accuracy.set({ split: 'val' }, val.accuracy);
    const sparsity = this.replica.mask === undefined ? undefined : sparsityOf(this.params, this.layout.slots);
    const summary = epochSummary({
      epoch,
      epochs: t.epochs,
      step: this.c.step,
      lr,
      train,
      val,
      tally,
      skippedRows: total[3] as number,
      seconds,
      evalSeconds,
      time: run.clock.time,
      firstGradNorm: this.firstNorm,
      stepsInEpoch: run.stepsInEpoch,
      improved: verdict.improved,
      stopEarly: verdict.stop,
      sparsity,
    });
    return { summary, checkpointDue: pos.checkpointDue };
  }

  /** The current weights become the best kept for restoreBest. */
  private keepBest(): void {
    const r = this.replica;
    r.best ??= { params: new Float32Array(this.layout.size), buffers: new Float32Array(this.buffers.size) };
    r.best.params.set(this.params);
    this.buffers.readWeights(r.best.buffers);
  }

  private overlapTuned(overlap: boolean, secondsWith: number, secondsWithout: number): void {
    if (this.o.comm.rank === 0) {
      const { fields, msg } = overlapTunedLine(overlap, secondsWith, secondsWithout);
      this.o.log.info(fields, msg);
    }
    this.o.hooks?.onOverlapTuned?.(overlap);
  }

  /** Brings the tfjs variables up to the flat weights, before anything reads the model. */
  syncModel(): void {
    this.runner?.syncModel();
  }

  /** Mid-epoch: the partial train sums are made global first, so a resume reports the epoch right. */
  private async checkpointMidEpoch(sums: readonly number[]): Promise<void> {
    const total = new Float32Array(sums);
    await this.o.comm.allReduceSum(total);
    this.c.partial = [total[0] as number, total[1] as number, total[2] as number];
    this.writeCheckpoint();
  }

  /** The live training state as a checkpoint (nothing written): what a surviving rank hands a re-formed ring. */
  snapshot(): Checkpoint {
    return liveSnapshot(this.replica, this.c, this.running);
  }

  /** Rank 0 writes the current state; returns its path (undefined on other ranks or when off). */
  private writeCheckpoint(): string | undefined {
    return writeLoopCheckpoint(this.o, this.replica, this.c, this.clock);
  }
}
