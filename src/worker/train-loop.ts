/**
 * The training loop of one rank, top to bottom, network-agnostic (it only sees a Communicator),
 * so the same code runs in the worker process over gRPC and in unit tests over the in-memory ring.
 *
 * Every decision that changes the weights is taken from values all ranks share:
 * - the gradient (and the loss riding in its last slot) is all-reduced once per optimizer step,
 *   after k micro-batches added up locally (DDP's no_sync);
 * - clipping and the non-finite guard look at that averaged buffer, identical on every rank;
 * - the schedule is a function of (epoch, step), and plateau/early stopping read the all-reduced
 *   validation metric;
 * - checkpoints and their resume position are decided by step/epoch counters every rank keeps.
 * So replicas stay bit-identical without exchanging weights after the first broadcast.
 */
import { RingtrainError } from '../core';
import { lineAlignedFloats } from '../native';
import { batchIndices, epochBatches, epochSampler, samplesPerRank, type Batch, type EpochSampler } from '../data';
import * as tf from '@tensorflow/tfjs-core';
import {
  EarlyStopping,
  FusedStep,
  LrSchedule,
  ParamLayout,
  applyMask,
  clipToNorm,
  forwardBackward,
  frozenLayers,
  globalNorm,
  monitorMode,
  noDecayRanges,
  optimizerOf,
  scaledLr,
  sparsityOf,
  stepFeatures,
  type FlatOptimizer,
  type LocalGradients,
  type LocalStepResult,
  type LossOptions,
} from '../train';
import { findLatestCheckpoint, writeCheckpoint, type Checkpoint } from './checkpoint-store';
import { classWeightsFor } from './class-weights';
import { distillOf, pruneForEpoch } from './loop-extras';
import { NonFiniteGuard } from './nonfinite-guard';
import { StepBuffer, stepBufferLength } from './step-buffer';
import { evaluateSplit, withoutConfusion, type SplitMetrics } from './evaluate-split';
import type { EpochSummary, TrainLoopOptions, TrainResult } from './train-types';
import { StepClock, since } from './step-clock';
import {
  ARRAY_BEST_BUFFERS,
  ARRAY_BEST_PARAMS,
  ARRAY_BUFFERS,
  ARRAY_FROZEN,
  ARRAY_PARAMS,
  ARRAY_PRUNE_MASK,
  OPT_PREFIX,
  broadcastStart,
  countersOf,
  optimizerSlotsOf,
  requireArray,
  type StartDecision,
  type TrainCounters,
} from './train-state';

export type { EpochSummary, LoopData, StepTimes, TrainHooks, TrainLoopOptions, TrainResult } from './train-types';

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
  /** train.prune's mask over `params` (1 live, 0 pruned); undefined without pruning. */
  private readonly mask: Float32Array | undefined;
  /** How every micro-batch's loss is taken, but for its regression targets. */
  private readonly lossOptions: LossOptions;
  /** Master copy of the trainable weights; the optimizer updates it, then the tfjs variables. */
  readonly params: Float32Array;
  readonly optimizer: FlatOptimizer;
  /**
   * The step's all-reduced buffer (step-buffer.ts). Allocated by initialize (collectively: it
   * may be this rank's half of a file shared with the peer).
   */
  private step: StepBuffer | undefined;
  /** The optimizer's own momentum (Adam: beta1), for the gauge when no schedule moves it. */
  private readonly fixedMomentum: number;
  /** The loss's per-class weights (class-weights.ts); undefined = every class 1. */
  private readonly classWeights: Float32Array | undefined;
  private readonly schedule: LrSchedule;
  private readonly early: EarlyStopping;
  /** Which samples each epoch draws (data.sampler). */
  private readonly sampler: EpochSampler;
  private readonly batchesPerEpoch: number;
  private readonly stepsPerEpoch: number;
  private best: { params: Float32Array; buffers: Float32Array } | undefined;
  /**
   * This epoch's train sums (loss x rows, correct, rows) over every rank, to the last step: what
   * a survivor hands a re-formed ring. The epoch line itself keeps its own exact float32 sums
   * (one small all-reduce at the end): these ride the gradients' wire, which may be fp16/bf16.
   */
  private running: [number, number, number] = [0, 0, 0];
  private readonly guard: NonFiniteGuard;
  /** The global gradient norm of this process's first applied step: the exploding check's baseline. */
  private firstNorm: number | undefined;
  private c: TrainCounters;
  /** The native fused step when the model and loss allow it (fused-step.ts); else the tfjs step runs. */
  readonly fused: FusedStep | undefined;
  /** Why the tfjs step runs, when it does. */
  readonly fusedWhy: string | undefined;
  /** The fused step updates the flat weights only: the tfjs variables lag until syncModel. */
  private modelStale = false;

  constructor(private readonly o: TrainLoopOptions) {
    const { spec, comm, model } = o;
    const t = spec.train;
    // A dataset module can return regression targets whatever data.task says (validate.ts checks the task).
    if (t.labelSmoothing > 0 && o.data.train.targets !== undefined) {
      throw new RingtrainError('CONFIG_INVALID', `train.labelSmoothing (${t.labelSmoothing}) applies to classification, but this dataset gives regression targets (mean squared error): set train.labelSmoothing to 0`);
    }
    this.classWeights = classWeightsFor(t, o.data.train);
    this.sampler = epochSampler(spec.data.sampler, o.data.train);
    this.fixedMomentum = t.optimizer === 'adam' || t.optimizer === 'adamw' ? t.beta1 : t.momentum;
    const frozen = new Set(frozenLayers(model, spec.model));
    this.layout = ParamLayout.ofModel(model, frozen);
    this.frozen = ParamLayout.frozenOf(model, frozen);
    this.buffers = ParamLayout.buffersOf(model);
    this.mask = t.prune.sparsity > 0 ? new Float32Array(this.layout.size).fill(1) : undefined;
    this.lossOptions = { labelSmoothing: t.labelSmoothing, classWeights: this.classWeights, distill: distillOf(spec.train.distill, o.teacher) };
    this.stepFeatures = stepFeatures(this.lossOptions, this.layout, this.mask !== undefined);
    this.params = lineAlignedFloats(this.layout.size);
    this.optimizer = optimizerOf(t, this.layout.size, noDecayRanges(t, this.layout.slots));
    const fused =
      t.fusedStep === 'off'
        ? { why: 'train.fusedStep is off' }
        : this.stepFeatures.length > 0
          ? { why: `the step has ${this.stepFeatures.join(', ')}` }
          : FusedStep.of(model, this.layout, { targets: o.data.train.targets });
    this.fused = fused.step;
    this.fusedWhy = fused.step === undefined ? fused.why : undefined;
    const perRank = samplesPerRank(o.data.train.count, comm.worldSize, o.shard.dropLast);
    this.batchesPerEpoch = Math.ceil(perRank / spec.data.batchSize);
    this.stepsPerEpoch = Math.ceil(this.batchesPerEpoch / t.accumulate);
    let totalSteps = this.stepsPerEpoch * t.epochs;
    if (t.maxSteps > 0) totalSteps = Math.min(totalSteps, t.maxSteps);
    const totalTicks = t.schedule.interval === 'step' ? totalSteps : t.epochs;
    const mode = monitorMode(t.monitor);
    this.schedule = new LrSchedule(t.schedule, scaledLr(t.lr, comm.worldSize, t.scaleLr), totalTicks, mode);
    this.early = new EarlyStopping(t.earlyStopping.patience, t.earlyStopping.minDelta, mode);
    this.guard = new NonFiniteGuard(t, comm.rank, o.log, o.metrics);
    this.c = {
      job: spec.name,
      epoch: 0,
      batchInEpoch: 0,
      step: 0,
      worldSize: comm.worldSize,
      partial: [0, 0, 0],
      nonFiniteSkipped: 0,
      optimizer: { name: t.optimizer, steps: 0 },
      schedule: {},
      earlyStopping: this.early.state(),
      paramShapes: this.layout.shapes(),
      weightNames: this.weightNames(),
    };
  }

  private weightNames(): NonNullable<TrainCounters['weightNames']> {
    const entries = (l: ParamLayout): { name: string; shape: number[] }[] => l.slots.map((s, i) => ({ name: l.weightNames[i] as string, shape: s.shape }));
    return { params: entries(this.layout), buffers: entries(this.buffers), frozen: entries(this.frozen) };
  }

  get counters(): Readonly<TrainCounters> {
    return this.c;
  }

  /** The lr of the next optimizer step. */
  currentLr(): number {
    return this.schedule.lrAt(this.tick());
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
    // In the communicator's memory of choice: a file shared with a same-host peer, or its own
    // WebAssembly memory, where the all-reduce sums with SIMD.
    this.step = new StepBuffer(await comm.allocateShared(stepBufferLength(this.layout.size, this.buffers.size)), this.layout.size);
    if (elastic !== undefined && elastic.sourceRank >= 0) {
      // A re-formed ring: the lowest surviving rank hands everyone its live state (no disk).
      const mine: StartDecision = elastic.state !== undefined ? { kind: 'resume', ckpt: elastic.state } : { kind: 'missing' };
      const got = await broadcastStart(comm, mine, elastic.sourceRank);
      if (got.kind !== 'resume') throw new RingtrainError('JOB_FAILED', `rank ${elastic.sourceRank} was named the state source of the re-formed ring but holds no training state`);
      const where = `rank ${elastic.sourceRank}'s live state at step ${got.ckpt.step}`;
      this.restore(got.ckpt, where);
      if (comm.rank === 0) log.info({ event: 'state-synced', source: elastic.sourceRank, epoch: this.c.epoch, step: this.c.step }, `took ${where}: epoch ${this.c.epoch + 1}, step ${this.c.step}`);
      return where;
    }
    let decision: StartDecision = { kind: 'fresh' };
    let where = '';
    if (comm.rank === 0 && this.o.resumeFrom !== undefined) {
      const found = findLatestCheckpoint(this.o.resumeFrom, (m) => log.warn({ event: 'checkpoint-skipped' }, m));
      decision = found === undefined ? { kind: 'missing' } : { kind: 'resume', ckpt: found.ckpt };
      where = found?.dir ?? '';
    }
    const start = await broadcastStart(comm, decision);
    if (start.kind === 'missing') {
      throw new RingtrainError('DATA_INVALID', `--resume ${this.o.resumeFrom ?? '(on rank 0)'}: no usable checkpoint there (rank 0 looked for ckpt-* directories in it, in its checkpoints/ folder, or the path itself): check the path, or start without --resume`);
    }
    if (start.kind === 'resume') {
      where ||= `rank 0's checkpoint of step ${start.ckpt.step}`;
      this.restore(start.ckpt, where);
      if (comm.rank === 0) log.info({ event: 'resumed', dir: where, epoch: this.c.epoch, batchInEpoch: this.c.batchInEpoch, step: this.c.step }, `resumed from ${where}: epoch ${this.c.epoch + 1}, batch ${this.c.batchInEpoch}, step ${this.c.step}`);
      return where;
    }
    // Frozen weights travel once, here: rank 0's (from model.initFrom, typically) win.
    const p = this.layout.size;
    const b = p + this.buffers.size;
    const all = new Float32Array(b + this.frozen.size);
    if (comm.rank === 0) {
      this.layout.readWeights(all.subarray(0, p));
      this.buffers.readWeights(all.subarray(p, b));
      this.frozen.readWeights(all.subarray(b));
    }
    await comm.broadcast(all, 0);
    this.params.set(all.subarray(0, p));
    this.layout.writeWeights(this.params);
    this.buffers.writeWeights(all.subarray(p, b));
    if (this.frozen.size > 0) this.frozen.writeWeights(all.subarray(b));
    // The very weights step 1 starts from, so a run can be replayed from them elsewhere.
    if (this.o.spec.checkpoint.atStart) this.writeCheckpoint();
    return undefined;
  }

  private restore(ckpt: Checkpoint, where: string): void {
    const c = countersOf(ckpt, where, this.layout.shapes());
    this.params.set(requireArray(ckpt, ARRAY_PARAMS, this.layout.size, where));
    this.layout.writeWeights(this.params);
    this.buffers.writeWeights(requireArray(ckpt, ARRAY_BUFFERS, this.buffers.size, where));
    if (this.frozen.size > 0) this.frozen.writeWeights(requireArray(ckpt, ARRAY_FROZEN, this.frozen.size, where));
    if (this.mask !== undefined) {
      // A checkpoint from before pruning (or without it) has no mask: everything is live.
      if (ckpt.arrays.has(ARRAY_PRUNE_MASK)) this.mask.set(requireArray(ckpt, ARRAY_PRUNE_MASK, this.layout.size, where));
      else this.mask.fill(1);
    }
    this.optimizer.load({ name: c.optimizer.name, steps: c.optimizer.steps, slots: optimizerSlotsOf(ckpt) });
    this.schedule.load(c.schedule);
    this.early.load(c.earlyStopping);
    if (ckpt.arrays.has(ARRAY_BEST_PARAMS)) {
      this.best = {
        params: requireArray(ckpt, ARRAY_BEST_PARAMS, this.layout.size, where).slice(),
        buffers: requireArray(ckpt, ARRAY_BEST_BUFFERS, this.buffers.size, where).slice(),
      };
    }
    this.c = { ...c, partial: [...c.partial], paramShapes: this.layout.shapes(), weightNames: this.weightNames() };
    if (c.batchInEpoch > 0 && c.worldSize !== this.o.comm.worldSize) {
      // Another ring size: what the old ring consumed becomes an offset into the epoch's order,
      // and the rest of the epoch is re-sharded over the new ring (distributedIndices' offset).
      const consumed = c.batchInEpoch * this.o.spec.data.batchSize * c.worldSize;
      this.c.epochOffset = (c.epochOffset ?? 0) + consumed;
      this.c.batchInEpoch = 0;
      if (this.o.comm.rank === 0) {
        this.o.log.info({ event: 'reshard', from: c.worldSize, to: this.o.comm.worldSize, offset: this.c.epochOffset }, `epoch ${c.epoch + 1} continues on ${this.o.comm.worldSize} workers (was ${c.worldSize}) from position ${this.c.epochOffset} of its order`);
      }
    }
    this.c.worldSize = this.o.comm.worldSize;
  }

  /** Runs from the current position to the end (epochs, maxSteps or early stopping). */
  async run(): Promise<TrainResult> {
    const { spec, comm, hooks } = this.o;
    const step = this.step;
    if (step === undefined) throw new Error('TrainLoop.run before initialize');
    const t = spec.train;
    let last: EpochSummary | undefined;
    let stoppedEarly = false;
    const capped = (): boolean => t.maxSteps > 0 && this.c.step >= t.maxSteps;
    while (this.c.epoch < t.epochs && !stoppedEarly && !(capped() && this.c.batchInEpoch === 0)) {
      const { summary, checkpointDue } = await this.runEpoch(step);
      last = summary;
      stoppedEarly = summary.stopEarly;
      // Metrics and reports first, checkpoint second: a kill in between resumes from the previous
      // checkpoint and repeats the epoch (the resume trims its metrics line), never the reverse
      // (a checkpoint past an epoch whose line was never written).
      await hooks?.onEpoch?.(summary);
      if (checkpointDue) this.writeCheckpoint();
      if (capped()) break;
    }
    let restoredEpoch = 0;
    let val = last?.val;
    const es = this.early.state();
    if (t.earlyStopping.restoreBest && this.best !== undefined && es.bestEpoch !== last?.epoch) {
      this.params.set(this.best.params);
      this.layout.writeWeights(this.params);
      this.buffers.writeWeights(this.best.buffers);
      restoredEpoch = es.bestEpoch;
      val = await evaluateSplit(this.o.model, this.o.data.val, comm);
      if (comm.rank === 0) this.o.log.info({ event: 'restored-best', epoch: restoredEpoch, best: es.best, val: withoutConfusion(val) }, `restored the weights of epoch ${restoredEpoch}, the best by val ${t.monitor} (${es.best.toFixed(4)})`);
    }
    const pruning = this.mask === undefined ? undefined : { sparsity: sparsityOf(this.params, this.layout.slots), before: this.c.pruneBefore };
    return { steps: this.c.step, last, val, stoppedEarly, restoredEpoch, skippedSteps: this.c.nonFiniteSkipped, pruning };
  }

  private async runEpoch(step: StepBuffer): Promise<{ summary: EpochSummary; checkpointDue: boolean }> {
    const { spec, comm, data, hooks, metrics } = this.o;
    const t = spec.train;
    const k = t.accumulate;
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
    if (this.mask !== undefined && this.c.batchInEpoch === 0) {
      this.c.pruneBefore = await pruneForEpoch({ ...this.o, epoch, params: this.params, mask: this.mask, layout: this.layout, before: this.c.pruneBefore });
    }
    const pipeline = epochBatches(data.train, batches, spec.data.batchSize, epoch, this.o.augment);
    const clock = new StepClock(metrics, this.o.traceSpans === true);
    // Rank 0 carries the global partial sums of a resumed epoch; the others start at zero.
    const sums = comm.rank === 0 ? [...this.c.partial] : [0, 0, 0];
    // The same sums made global after every step (they ride in the gradients' all-reduce), so
    // a ring that loses a rank mid-epoch still knows what the lost rank had trained.
    this.running = [this.c.partial[0], this.c.partial[1], this.c.partial[2]];
    let normSum = 0;
    let maxNorm = 0;
    let applied = 0;
    let clipped = 0;
    let skipped = 0;
    let micro = 0;
    let lr = this.currentLr();
    const started = process.hrtime.bigint();
    const stepsInEpoch = Math.ceil(batches.length / k);
    let stepRows = 0;
    let stepCorrect = 0;
    let stepLoss = 0;
    // Rows of skipped steps: out of the epoch's loss and accuracy, still in its throughput.
    let skippedRows = 0;
    step.clear(this.fused !== undefined);
    for (let b = this.c.batchInEpoch; b < batches.length; b++) {
      hooks?.checkAbort?.();
      let t0 = process.hrtime.bigint();
      if (micro === 0) clock.startStep(t0);
      const batch: Batch = pipeline.get(b);
      t0 = clock.timed('data', t0);
      const rows = (batches[b] as Int32Array).length;
      const accumulate = micro > 0;
      const local = this.localStep(batch, rows, accumulate, step.all);
      step.addLocal(local, rows);
      stepLoss += local.loss * rows;
      metrics?.samplesTotal.inc(rows);
      stepRows += rows;
      stepCorrect += local.correct;
      micro += 1;
      if (micro < k && b < batches.length - 1) {
        // An earlier micro-batch of the step (no_sync): add its gradients locally.
        if (local.grads !== undefined) {
          this.layout.packGradients(local.grads, step.all, accumulate);
          tf.dispose(Object.values(local.grads));
        }
        clock.timed('compute', t0);
        continue;
      }
      // One all-reduce per optimizer step; the next batch is gathered while it is in flight.
      t0 = clock.timed('compute', t0);
      // Each rank's forward passes moved its batch-norm statistics on its own shard; averaged
      // here, every replica evaluates, checkpoints and exports the same ones (PyTorch DDP
      // broadcasts rank 0's instead). Free of extra latency: it is the gradients' all-reduce.
      if (step.modelBuffers.length > 0) this.buffers.readWeights(step.modelBuffers);
      // The gradients are read off the device bucket by bucket, each just before it is reduced,
      // so a bucket is on the wire while the next is read (DDP's overlap). Reading counts as
      // compute, as it did when it followed the backward pass.
      let packSeconds = 0;
      let reduced: Promise<void>;
      const grads = local.grads;
      try {
        reduced = comm.allReduceMean(step.all, (start, end) => {
          if (grads === undefined) return; // the fused step wrote them in place
          const p0 = process.hrtime.bigint();
          this.layout.packRange(grads, step.all, start, Math.min(end, this.layout.size), accumulate);
          packSeconds += since(p0);
        }, this.meanIsGradient() ? this.layout.size : undefined);
      } finally {
        // Every bucket is packed before allReduceMean first yields.
        if (grads !== undefined) tf.dispose(Object.values(grads));
      }
      const prep = process.hrtime.bigint();
      // Reading the gradients out and handing them to the all-reduce (its sends are under way).
      clock.span('send gradients', t0, prep);
      if (b + 1 < batches.length) pipeline.prepare(b + 1);
      const prepSeconds = since(prep);
      const ready = process.hrtime.bigint();
      if (b + 1 < batches.length) clock.span('prepare next batch', prep, ready);
      await reduced;
      clock.add('compute', packSeconds);
      clock.add('data', prepSeconds);
      clock.communicated(since(t0) - prepSeconds - packSeconds, ready, comm.lastFirstArrival);

      t0 = process.hrtime.bigint();
      if (step.modelBuffers.length > 0) this.buffers.writeWeights(step.modelBuffers);
      const loss = step.finish(comm.worldSize, micro, this.classWeights !== undefined, this.running);
      const g = step.gradients;
      // Pruned weights get no gradient: not in the norm, the clipping or the update.
      if (this.mask !== undefined) applyMask(g, this.mask);
      // After the all-reduce every rank holds identical bytes, so this norm (and every decision
      // below) is the same on every rank without another collective. A shared-file pair read
      // the squares while it summed (both ranks got the same number), saving a pass.
      const squares = this.meanIsGradient() ? comm.lastSumSquares : undefined;
      const norm = squares === undefined ? globalNorm(g) : Math.sqrt(squares);
      // One tick for both: onecycle's momentum moves with its lr.
      const tick = this.tick();
      lr = this.schedule.lrAt(tick);
      const momentum = this.schedule.momentumAt(tick);
      if (!Number.isFinite(norm) || !Number.isFinite(loss)) {
        this.guard.skip(this.c, loss, norm, epoch);
        skipped += 1;
        skippedRows += stepRows;
      } else {
        // A skipped step's loss is NaN or Inf: only applied steps make the epoch's train figures.
        sums[0] = (sums[0] as number) + stepLoss;
        sums[1] = (sums[1] as number) + stepCorrect;
        sums[2] = (sums[2] as number) + stepRows;
        normSum += norm;
        if (norm > maxNorm) maxNorm = norm;
        this.firstNorm ??= norm;
        applied += 1;
        this.guard.applied();
        if (clipToNorm(g, norm, t.clipNorm) < 1) clipped += 1;
        const before = hooks?.wantsDiagnostics?.(Math.ceil((b + 1) / k), stepsInEpoch) ? this.params.slice() : undefined;
        this.optimizer.step(this.params, g, lr, momentum);
        // Momentum and weight decay would move pruned weights off 0.
        if (this.mask !== undefined) applyMask(this.params, this.mask);
        if (this.fused === undefined) this.layout.writeWeights(this.params);
        else this.modelStale = true;
        if (before !== undefined) hooks?.onDiagnostics?.({ epoch: epoch + 1, step: this.c.step + 1, slots: this.layout.slots, grads: g, before, after: this.params });
      }
      clock.timed('update', t0);
      step.clear(this.fused !== undefined);
      micro = 0;
      this.c.step += 1;
      this.c.batchInEpoch = b + 1;
      metrics?.step.set(this.c.step);
      metrics?.learningRate.set(lr);
      metrics?.momentum.set(momentum ?? this.fixedMomentum);
      const split = clock.endStep();
      metrics?.allreduceBytes.inc(comm.worldSize > 1 ? (2 * (comm.worldSize - 1) * step.all.byteLength) / comm.worldSize : 0);
      hooks?.onStep?.(this.c.step, epoch);
      hooks?.onStepDetail?.({ epoch: epoch + 1, step: this.c.step, stepInEpoch: Math.ceil((b + 1) / k), stepsInEpoch, loss, correct: stepCorrect, samples: stepRows, lr, momentum, seconds: split.seconds, spans: split.spans });
      stepRows = 0;
      stepCorrect = 0;
      stepLoss = 0;
      if (spec.checkpoint.everySteps > 0 && this.c.step % spec.checkpoint.everySteps === 0 && b + 1 < batches.length) {
        await this.checkpointMidEpoch(sums);
      }
      // With one worker nothing above awaits I/O; yield so heartbeats and scrapes get served.
      if (comm.worldSize === 1) await new Promise((r) => setImmediate(r));
      if (t.maxSteps > 0 && this.c.step >= t.maxSteps) break;
    }
    const seconds = since(started);
    this.syncModel();

    const total = new Float32Array([...sums, skippedRows]);
    await comm.allReduceSum(total);
    const trainLoss = (total[0] as number) / (total[2] as number);
    const regression = data.train.targets !== undefined;
    const train: SplitMetrics = { loss: trainLoss, accuracy: regression ? NaN : (total[1] as number) / (total[2] as number), samples: total[2] as number };
    if (regression) train.mse = trainLoss;
    const evalStart = process.hrtime.bigint();
    const val = await evaluateSplit(this.o.model, data.val, comm);
    const evalSeconds = since(evalStart);

    const epochsDone = this.c.batchInEpoch >= batches.length ? epoch + 1 : epoch;
    const monitored = t.monitor === 'accuracy' ? val.accuracy : t.monitor === 'mse' ? (val.mse ?? val.loss) : t.monitor === 'mae' ? (val.mae ?? val.loss) : val.loss;
    const tick = t.schedule.interval === 'step' ? this.c.step : epoch;
    if (this.schedule.observe(monitored, tick) && comm.rank === 0) {
      this.o.log.info({ event: 'lr-reduced', epoch: epoch + 1, lr: this.schedule.lrAt(tick) }, `val ${t.monitor} stopped improving: lr reduced to ${this.schedule.lrAt(tick)}`);
    }
    const verdict = this.early.update(monitored, epoch + 1);
    if (verdict.improved && t.earlyStopping.restoreBest) {
      this.best ??= { params: new Float32Array(this.layout.size), buffers: new Float32Array(this.buffers.size) };
      this.best.params.set(this.params);
      this.buffers.readWeights(this.best.buffers);
    }
    this.c.epoch = epochsDone;
    if (epochsDone > epoch) {
      this.c.batchInEpoch = 0;
      this.c.epochOffset = 0;
    }
    // A run capped by maxSteps mid-epoch keeps its global partial sums for a later resume.
    this.c.partial = epochsDone > epoch ? [0, 0, 0] : [total[0] as number, total[1] as number, total[2] as number];
    const everyEpochs = spec.checkpoint.everyEpochs;
    const atStepMark = spec.checkpoint.everySteps > 0 && this.c.step % spec.checkpoint.everySteps === 0;
    const checkpointDue = (everyEpochs > 0 && epochsDone > epoch && epochsDone % everyEpochs === 0) || atStepMark || verdict.stop;
    metrics?.epoch.set(epoch + 1);
    metrics?.loss.set({ split: 'train' }, train.loss);
    metrics?.loss.set({ split: 'val' }, val.loss);
    metrics?.accuracy.set({ split: 'train' }, train.accuracy);
    metrics?.accuracy.set({ split: 'val' }, val.accuracy);
    const summary: EpochSummary = {
      epoch: epoch + 1,
      epochs: t.epochs,
      step: this.c.step,
      lr,
      train,
      val,
      seconds,
      samplesPerSec: (train.samples + (total[3] as number)) / seconds,
      evalSamplesPerSec: val.samples / evalSeconds,
      time: clock.time,
      gradNorm: applied > 0 ? normSum / applied : NaN,
      maxGradNorm: applied > 0 ? maxNorm : NaN,
      firstGradNorm: this.firstNorm ?? NaN,
      stepsInEpoch,
      clippedSteps: clipped,
      skippedSteps: skipped,
      improved: verdict.improved,
      stopEarly: verdict.stop,
      sparsity: this.mask === undefined ? undefined : sparsityOf(this.params, this.layout.slots),
    };
    return { summary, checkpointDue };
  }

  /**
   * One micro-batch's forward and backward: the fused step writes its gradients into `into`
   * (added with `accumulate`) and returns no tensors; the tfjs step returns them for packing.
   */
  private localStep(batch: Batch, rows: number, accumulate: boolean, into: Float32Array): LocalStepResult & { grads?: LocalGradients['grads'] } {
    const loss: LossOptions = { ...this.lossOptions, targets: batch.t };
    if (this.fused !== undefined) return this.fused.run(this.params, into, batch.x, batch.y, rows, accumulate, loss);
    return forwardBackward(this.o.model, this.layout, batch.x, batch.y, rows, loss);
  }

  /** True when the all-reduced mean is the step's gradient as is: finish() and no mask change it. */
  private meanIsGradient(): boolean {
    return this.o.spec.train.accumulate === 1 && this.classWeights === undefined && this.mask === undefined;
  }

  /** Brings the tfjs variables up to the flat weights, before anything reads the model. */
  syncModel(): void {
    if (!this.modelStale) return;
    this.layout.writeWeights(this.params);
    this.modelStale = false;
  }

  /** Mid-epoch: the partial train sums are made global first, so a resume reports the epoch right. */
  private async checkpointMidEpoch(sums: number[]): Promise<void> {
    const total = new Float32Array(sums);
    await this.o.comm.allReduceSum(total);
    this.c.partial = [total[0] as number, total[1] as number, total[2] as number];
    this.writeCheckpoint();
  }

  /**
   * The live training state as a checkpoint (nothing written): what a surviving rank hands a
   * re-formed ring. Valid at a step boundary, which is where an aborted collective leaves it:
   * weights and counters only change after a step's all-reduce has completed.
   */
  snapshot(): Checkpoint {
    const arrays = this.stateArrays((a) => a.slice());
    // The interrupted epoch's train sums up to the last completed step, over every rank of the
    // old ring (the lost one included): the new ring's epoch line covers the whole epoch.
    const partial: [number, number, number] = this.c.batchInEpoch > 0 ? [this.running[0], this.running[1], this.running[2]] : [0, 0, 0];
    return { step: this.c.step, meta: { ...this.c, partial }, arrays };
  }

  /**
   * The state's arrays (weights, buffers, optimizer slots, best weights), with the counters
   * brought up to date; `keep` copies what outlives this moment (a snapshot) or not (a write).
   */
  private stateArrays(keep: (a: Float32Array) => Float32Array): Map<string, Float32Array> {
    const opt = this.optimizer.state();
    this.c.optimizer = { name: opt.name, steps: opt.steps };
    this.c.schedule = this.schedule.state();
    this.c.earlyStopping = this.early.state();
    const arrays = new Map<string, Float32Array>();
    arrays.set(ARRAY_PARAMS, keep(this.params));
    const buffers = new Float32Array(this.buffers.size);
    this.buffers.readWeights(buffers);
    arrays.set(ARRAY_BUFFERS, buffers);
    if (this.frozen.size > 0) {
      const frozen = new Float32Array(this.frozen.size);
      this.frozen.readWeights(frozen);
      arrays.set(ARRAY_FROZEN, frozen);
    }
    if (this.mask !== undefined) arrays.set(ARRAY_PRUNE_MASK, keep(this.mask));
    for (const [name, a] of Object.entries(opt.slots)) arrays.set(OPT_PREFIX + name, keep(a));
    if (this.best !== undefined) {
      arrays.set(ARRAY_BEST_PARAMS, keep(this.best.params));
      arrays.set(ARRAY_BEST_BUFFERS, keep(this.best.buffers));
    }
    return arrays;
  }

  /** Rank 0 writes the current state; returns its path (undefined on other ranks or when off). */
  private writeCheckpoint(): string | undefined {
    const { comm, checkpointDir, log, spec, hooks } = this.o;
    if (comm.rank !== 0 || checkpointDir === '') return undefined;
    const started = process.hrtime.bigint();
    // Written to disk before training goes on: live views will do.
    const arrays = this.stateArrays((a) => a);
    let dir: string;
    try {
      dir = writeCheckpoint(checkpointDir, { step: this.c.step, meta: this.c, arrays }, { keep: spec.checkpoint.keep, onProgress: hooks?.onCheckpointProgress });
    } catch (e) {
      if (hooks?.onWriteFailed === undefined) throw e;
      hooks.onWriteFailed(`checkpoint of step ${this.c.step}`, e);
      return undefined;
    }
    log.info({ event: 'checkpoint', dir, step: this.c.step, epoch: this.c.epoch, batchInEpoch: this.c.batchInEpoch, seconds: since(started) }, `checkpoint ${dir}`);
    return dir;
  }
}

