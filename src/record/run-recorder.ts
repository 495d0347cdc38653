/**
 * RunRecorder: the one object a training loop tells what happened, step by step and epoch by
 * epoch. It turns that into everything people look at:
 *
 *   - TensorBoard event files (tensorboard/train and tensorboard/validation, Keras' layout, so
 *     train and validation curves overlay), steps.jsonl, diagnostics.jsonl, histograms.jsonl and
 *     timing.jsonl in the run directory (rank 0 only);
 *   - `progress` log lines, throttled, that the launcher draws as a progress bar (rank 0 only);
 *   - warnings (vanishing/exploding gradients, over-fitting) as log warnings and metrics;
 *   - step points and this rank's time split for the coordinator's status page, batched and sent
 *     in the background (every rank: the status page's workers table needs each one's timing).
 *
 * Every call is synchronous and cheap except onEpoch's event-file flush; sending to the
 * coordinator never blocks a step and never throws into the loop (a lost update only thins the
 * live curve).
 */
import * as path from 'node:path';
import { type StepPoint, type StepTiming, EventFileWriter } from '../observe';
import {
  epochGradientWarning,
  gradientWarnings,
  layerStats,
  overfittingWarning,
  skippedStepsWarning,
  variableHistograms,
  type DiagnosticWarning,
  type EpochLosses,
  type Histogram,
} from '../train';
import {
  PROGRESS_INTERVAL_MS,
  SINK_INTERVAL_MS,
  STEP_LINES_PER_WRITE,
  THROUGHPUT_WINDOW,
  TIMING_FIELDS,
  splitScalars,
  toTensorBoard,
  unpackTiming,
  type DiagnosticsInput,
  type EpochInput,
  type RunRecorderOptions,
  type StepInfo,
} from './recorder-inputs';
import { createDiagnosticsMetrics, type DiagnosticsMetrics } from './recorder-metrics';
import {
  RUN_FILES,
  appendJsonLines,
  type DiagnosticsLine,
  type HistogramLine,
  type RankTiming,
  type StepLine,
  type TimingLine,
} from './run-files';

export type { DiagnosticsInput, EpochInput, ProgressSink, RunRecorderOptions, StepInfo } from './recorder-inputs';

const emptyTiming = (): StepTiming => ({
  steps: 0,
  dataSec: 0,
  computeSec: 0,
  communicationSec: 0,
  updateSec: 0,
  peerWaitSec: 0,
});

export class RunRecorder {
  private readonly clock: () => number;
  private readonly writes: boolean;
  private readonly train?: EventFileWriter;
  private readonly validation?: EventFileWriter;
  private readonly metrics?: DiagnosticsMetrics;
  private steps: StepLine[] = [];
  private readonly stepTimes: { ms: number; samples: number }[] = [];
  private epochTiming: RankTiming;
  private sinkTiming = emptyTiming();
  private pendingPoints: StepPoint[] = [];
  private lastProgressMs = -Infinity;
  private lastSinkMs = -Infinity;
  private sending: Promise<void> | undefined;
  private epochLoss = { sum: 0, correct: 0, samples: 0, hasCorrect: false, startMs: 0 };
  private readonly history: EpochLosses[] = [];
  private firstGlobalNorm: number | undefined;
  /** The diagnosed step's line, written with the epoch's own figures at onEpoch. */
  private pendingDiagnostics: DiagnosticsLine | undefined;
  private lastStep = { step: 0, samples: 0 };
  private closed = false;
  private epoch = 0;

  constructor(private readonly o: RunRecorderOptions) {
    this.clock = o.clock ?? Date.now;
    this.writes = o.rank === 0;
    this.epochTiming = {
      rank: o.rank,
      steps: 0,
      samples: 0,
      data: 0,
      compute: 0,
      communication: 0,
      update: 0,
      peerWait: 0,
    };
    if (this.writes) {
      const clockSec = (): number => this.clock() / 1000;
      this.train = new EventFileWriter(path.join(o.dir, RUN_FILES.tensorboard, 'train'), { clock: clockSec });
      this.validation = new EventFileWriter(path.join(o.dir, RUN_FILES.tensorboard, 'validation'), { clock: clockSec });
    }
    if (o.registry) this.metrics = createDiagnosticsMetrics(o.registry);
  }

  /** After every optimizer step. */
  onStep(s: StepInfo): void {
    const now = this.clock();
    this.tally(s, now);
    const last = s.stepInEpoch >= s.stepsInEpoch;
    const kept = this.writes && (last || s.step % (this.o.logEverySteps ?? 1) === 0);
    const logged =
      this.writes &&
      this.o.log !== undefined &&
      (last || now - this.lastProgressMs >= (this.o.progressIntervalMs ?? PROGRESS_INTERVAL_MS));
    // Only rank 0's kept points and progress lines show it: the other steps need not compute it.
    const samplesPerSec = kept || logged ? this.throughput(s) : 0;
    if (kept) this.keepPoint(s, now, samplesPerSec);
    if (logged) this.logProgress(s, now, samplesPerSec);
    this.maybeSend(now);
  }

  /** Adds the step to the epoch's running loss, the throughput window and both time splits. */
  private tally(s: StepInfo, now: number): void {
    // A new epoch (or the first step after a resume mid-epoch) starts the running figures afresh.
    if (s.stepInEpoch === 1 || s.epoch !== this.epoch)
      this.epochLoss = {
        sum: 0,
        correct: 0,
        samples: 0,
        hasCorrect: false,
        startMs: now - 1000 * (s.seconds.data + s.seconds.compute + s.seconds.communication + s.seconds.update),
      };
    this.epoch = s.epoch;
    const globalSamples = s.samples * this.o.worldSize;
    this.stepTimes.push({ ms: now, samples: globalSamples });
    if (this.stepTimes.length > (this.o.throughputWindow ?? THROUGHPUT_WINDOW) + 1) this.stepTimes.shift();
    this.epochLoss.sum += s.loss * s.samples;
    this.epochLoss.samples += s.samples;
    if (s.correct !== undefined) {
      this.epochLoss.correct += s.correct;
      this.epochLoss.hasCorrect = true;
    }
    const t = this.epochTiming;
    t.steps += 1;
    t.samples += s.samples;
    t.data += s.seconds.data;
    t.compute += s.seconds.compute;
    t.communication += s.seconds.communication;
    t.update += s.seconds.update;
    t.peerWait = (t.peerWait ?? 0) + (s.seconds.peerWait ?? 0);
    const w = this.sinkTiming;
    w.steps += 1;
    w.dataSec += s.seconds.data;
    w.computeSec += s.seconds.compute;
    w.communicationSec += s.seconds.communication;
    w.updateSec += s.seconds.update;
    w.peerWaitSec += s.seconds.peerWait ?? 0;
    // As the epoch reports count it (steps x samples per step x world), so the two agree.
    this.lastStep = { step: s.step, samples: s.step * globalSamples };
  }

  /** Rank 0's point of a kept step: the coordinator's curve, steps.jsonl and TensorBoard. */
  private keepPoint(s: StepInfo, now: number, samplesPerSec: number): void {
    const point: StepPoint = {
      step: s.step,
      epoch: s.epoch,
      loss: s.loss,
      accuracy: this.epochLoss.hasCorrect ? this.epochLoss.correct / this.epochLoss.samples : NaN,
      samplesPerSec,
      lr: s.lr,
      wallTime: now / 1000,
    };
    this.pendingPoints.push(point);
    this.steps.push({ step: s.step, epoch: s.epoch, loss: s.loss, samplesPerSec, lr: s.lr, time: now / 1000 });
    // A long epoch must not hold its lines until the end (a crash would lose them).
    if (this.steps.length >= STEP_LINES_PER_WRITE) this.flushSteps();
    const scalars: Record<string, number> = {
      'batch/loss': s.loss,
      'batch/samples_per_sec': samplesPerSec,
      'batch/learning_rate': s.lr,
    };
    if (s.momentum !== undefined) scalars['batch/momentum'] = s.momentum;
    this.train?.scalars(s.step, scalars);
  }

  /** Rank 0's progress line. */
  private logProgress(s: StepInfo, now: number, samplesPerSec: number): void {
    if (this.o.log === undefined) return;
    this.lastProgressMs = now;
    const loss = this.epochLoss.sum / this.epochLoss.samples;
    this.o.log.info(
      {
        event: 'progress',
        epoch: s.epoch,
        epochs: this.o.epochs,
        stepInEpoch: s.stepInEpoch,
        stepsInEpoch: s.stepsInEpoch,
        step: s.step,
        loss,
        samplesPerSec,
        elapsedSec: (now - this.epochLoss.startMs) / 1000,
      },
      `epoch ${s.epoch}/${this.o.epochs} step ${s.stepInEpoch}/${s.stepsInEpoch}: loss ${loss.toFixed(4)}, ${samplesPerSec.toFixed(0)} samples/s`,
    );
  }

  /**
   * True for the step whose weights before and after onDiagnostics wants: the last step of each
   * epoch, on rank 0 only (replicas are identical, so one rank's view is everyone's).
   */
  wantsDiagnostics(stepInEpoch: number, stepsInEpoch: number): boolean {
    return this.writes && stepInEpoch >= stepsInEpoch;
  }

  /** Gradient norms, update ratios and histograms of one step; returns (and logs) its warnings. */
  onDiagnostics(d: DiagnosticsInput): DiagnosticWarning[] {
    const layers = layerStats(d.slots, d.grads, d.before, d.after);
    const globalGradNorm = Math.sqrt(layers.reduce((s, l) => s + l.gradNorm * l.gradNorm, 0));
    // Exploding gradients are judged on the epoch's largest norm (onEpoch), not one step's.
    const warnings = gradientWarnings(layers, this.firstGlobalNorm).filter((w) => w.kind !== 'exploding-gradient');
    if (this.firstGlobalNorm === undefined && Number.isFinite(globalGradNorm) && globalGradNorm > 0)
      this.firstGlobalNorm = globalGradNorm;
    const rank = String(this.o.rank);
    this.metrics?.gradientNorm.set({ rank, layer: 'global' }, globalGradNorm);
    for (const l of layers) {
      this.metrics?.gradientNorm.set({ rank, layer: l.layer }, l.gradNorm);
      this.metrics?.updateRatio.set({ rank, layer: l.layer }, l.updateRatio);
    }
    if (!this.writes) return warnings;
    const weights = variableHistograms(d.slots, d.after);
    const grads = variableHistograms(d.slots, d.grads);
    this.pendingDiagnostics = { epoch: d.epoch, step: d.step, globalGradNorm, layers, warnings };
    const hists: HistogramLine[] = [];
    for (const s of d.slots) {
      hists.push({
        epoch: d.epoch,
        step: d.step,
        kind: 'weights',
        variable: s.name,
        histogram: weights[s.name] as Histogram,
      });
      hists.push({
        epoch: d.epoch,
        step: d.step,
        kind: 'gradients',
        variable: s.name,
        histogram: grads[s.name] as Histogram,
      });
    }
    appendJsonLines(path.join(this.o.dir, RUN_FILES.histograms), hists);
    const scalars: Record<string, number> = { 'gradients/global_norm': globalGradNorm };
    for (const l of layers) {
      scalars[`gradients/norm/${l.layer}`] = l.gradNorm;
      scalars[`update_ratio/${l.layer}`] = l.updateRatio;
    }
    this.train?.scalars(d.epoch, scalars);
    for (const h of hists) this.train?.histogram(`${h.kind}/${h.variable}`, toTensorBoard(h.histogram), d.epoch);
    this.warn(warnings);
    return warnings;
  }

  /**
   * This rank's timing for the epoch so far, in a world-sized buffer with only its own slot
   * filled: all-reduce-sum it across ranks and pass the result as onEpoch's `ranks`.
   */
  packEpochTiming(): Float32Array {
    const buf = new Float32Array(this.o.worldSize * TIMING_FIELDS);
    const t = this.epochTiming;
    buf.set(
      [t.steps, t.samples, t.data, t.compute, t.communication, t.update, t.peerWait ?? 0],
      this.o.rank * TIMING_FIELDS,
    );
    return buf;
  }

  /** After each epoch's evaluation; returns (and logs) an over-fitting warning if any. */
  onEpoch(e: EpochInput): DiagnosticWarning[] {
    const ranks = e.ranks ? unpackTiming(e.ranks, this.o.worldSize) : [this.epochTiming];
    this.epochTiming = {
      rank: this.o.rank,
      steps: 0,
      samples: 0,
      data: 0,
      compute: 0,
      communication: 0,
      update: 0,
      peerWait: 0,
    };
    this.history.push({ epoch: e.epoch, trainLoss: e.train.loss, valLoss: e.val.loss });
    const warnings = [
      epochGradientWarning(e.epoch, e.gradNorm?.max ?? NaN, e.gradNorm?.first),
      skippedStepsWarning(e.epoch, e.skippedSteps ?? 0, e.stepsInEpoch ?? 0),
      overfittingWarning(this.history),
    ].filter((w): w is DiagnosticWarning => w !== undefined);
    if (!this.writes) return warnings;
    this.writeDiagnostics(e, warnings);
    const timingLines: TimingLine[] = ranks.map((r) => ({ epoch: e.epoch, ...r }));
    appendJsonLines(path.join(this.o.dir, RUN_FILES.timing), timingLines);
    const own = ranks.find((r) => r.rank === this.o.rank) ?? ranks[0];
    this.train?.scalars(e.epoch, {
      ...splitScalars(e.train),
      'epoch/samples_per_sec': e.samplesPerSec,
      ...(own
        ? {
            'epoch/seconds_data': own.data,
            'epoch/seconds_compute': own.compute,
            'epoch/seconds_communication': own.communication,
            'epoch/seconds_update': own.update,
            'epoch/seconds_peer_wait': own.peerWait ?? 0,
          }
        : {}),
    });
    this.validation?.scalars(e.epoch, splitScalars(e.val));
    this.flushFiles();
    this.warn(warnings);
    return warnings;
  }

  /** The epoch's diagnostics line: the diagnosed step's (if one was), with the epoch's norms and warnings. */
  private writeDiagnostics(e: EpochInput, warnings: readonly DiagnosticWarning[]): void {
    const pending = this.pendingDiagnostics?.epoch === e.epoch ? this.pendingDiagnostics : undefined;
    if (pending !== undefined) this.pendingDiagnostics = undefined;
    else this.flushDiagnostics();
    const line: DiagnosticsLine = pending ?? {
      epoch: e.epoch,
      step: e.step,
      globalGradNorm: NaN,
      layers: [],
      warnings: [],
    };
    line.warnings = [...line.warnings, ...warnings];
    if (e.gradNorm !== undefined) {
      line.meanGradNorm = e.gradNorm.mean;
      line.maxGradNorm = e.gradNorm.max;
      this.train?.scalars(e.epoch, {
        'gradients/global_norm_max': e.gradNorm.max,
        'gradients/global_norm_mean': e.gradNorm.mean,
      });
    }
    if (e.skippedSteps !== undefined) line.skippedSteps = e.skippedSteps;
    appendJsonLines(path.join(this.o.dir, RUN_FILES.diagnostics), [line]);
  }

  /** A diagnosed step whose epoch never ended (training stopped): its line is still written. */
  private flushDiagnostics(): void {
    if (this.pendingDiagnostics !== undefined && this.writes)
      appendJsonLines(path.join(this.o.dir, RUN_FILES.diagnostics), [this.pendingDiagnostics]);
    this.pendingDiagnostics = undefined;
  }

  /** Writes buffered step lines and event records; sends pending points now. */
  flush(): void {
    this.flushFiles();
    this.maybeSend(this.clock(), true);
  }

  /** Flushes, waits for a send in flight (and a final one), closes the event files. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.flushDiagnostics();
    this.flushFiles();
    await this.sending;
    this.maybeSend(this.clock(), true);
    await this.sending;
    this.train?.close();
    this.validation?.close();
  }

  private flushSteps(): void {
    appendJsonLines(path.join(this.o.dir, RUN_FILES.steps), this.steps);
    this.steps = [];
  }

  private flushFiles(): void {
    if (!this.writes) return;
    this.flushSteps();
    this.train?.flush();
    this.validation?.flush();
  }

  private throughput(s: StepInfo): number {
    const first = this.stepTimes[0];
    const last = this.stepTimes[this.stepTimes.length - 1];
    if (first !== undefined && last !== undefined && this.stepTimes.length > 1 && last.ms > first.ms) {
      const samples = this.stepTimes.slice(1).reduce((n, x) => n + x.samples, 0);
      return (1000 * samples) / (last.ms - first.ms);
    }
    // First step of a run: only its own measured time is known.
    const secs = s.seconds.data + s.seconds.compute + s.seconds.communication + s.seconds.update;
    return secs > 0 ? (s.samples * this.o.worldSize) / secs : 0;
  }

  private maybeSend(now: number, force = false): void {
    const sink = this.o.sink;
    if (sink === undefined || this.sending !== undefined) return;
    if (!force && now - this.lastSinkMs < (this.o.sinkIntervalMs ?? SINK_INTERVAL_MS)) return;
    if (this.pendingPoints.length === 0 && this.sinkTiming.steps === 0) return;
    this.lastSinkMs = now;
    const update = {
      step: this.lastStep.step,
      samples: this.lastStep.samples,
      points: this.pendingPoints,
      timing: this.sinkTiming,
    };
    this.pendingPoints = [];
    this.sinkTiming = emptyTiming();
    this.sending = sink
      .sendProgress(update)
      .catch((e: unknown) =>
        this.o.log?.debug(
          { event: 'progress-send-failed' },
          `could not send progress to the coordinator: ${(e as Error).message}`,
        ),
      )
      .finally(() => (this.sending = undefined));
  }

  private warn(warnings: readonly DiagnosticWarning[]): void {
    for (const w of warnings) {
      this.metrics?.warnings.inc({ rank: String(this.o.rank), kind: w.kind });
      this.o.log?.warn({ event: 'training-warning', kind: w.kind, layer: w.layer }, w.message);
    }
  }
}
