/**
 * Where one rank's step time goes: each optimizer step's phases (data, compute, communication,
 * update) and the part of communication spent waiting for a slower neighbour, summed over the
 * epoch (the epoch line's split) and handed out step by step to the metrics, the run recorder
 * and the trace. Kept out of the training loop so the loop reads as the step it runs.
 */
import type { StepPhase, WorkerMetrics } from '../observe';
import type { StepSpan } from '../record';
import { secondsSince, systemClock, type Clock } from './clock';
import type { StepTimes } from './train-types';

const zero = (): StepTimes => ({ data: 0, compute: 0, communication: 0, update: 0, peerWait: 0 });

export interface StepSplit {
  /** The step's own seconds per phase (peerWait is part of communication). */
  seconds: StepTimes;
  /** The step's stretches in order, with real times; only when spans are recorded. */
  spans?: StepSpan[];
}

export class StepClock {
  /** The epoch's totals so far. */
  readonly time: StepTimes = zero();
  /** Totals at the end of the previous step: a step's split is the difference. */
  private readonly reported: StepTimes = zero();
  private started: bigint;
  /** This step's stretches so far, when recording (a trace is written). */
  private spans: StepSpan[] | undefined;
  /** One reading of both scales: ns() and ms() count the same monotonic time. */
  private readonly hrBase: bigint;
  private readonly msBase: number;

  constructor(
    private readonly metrics?: WorkerMetrics,
    /** Keep each step's stretches with their real times (for a trace); off, nothing is kept. */
    private readonly recordSpans = false,
    readonly clock: Clock = systemClock,
  ) {
    this.started = clock.ns();
    this.hrBase = clock.ns();
    this.msBase = clock.ms();
  }

  /** A reading to start a stretch from. */
  now(): bigint {
    return this.clock.ns();
  }

  /** Seconds from `from` until now. */
  since(from: bigint): number {
    return secondsSince(this.clock, from);
  }

  /** ms() milliseconds of an ns() reading. */
  private ms(at: bigint): number {
    return this.msBase + Number(at - this.hrBase) / 1e6;
  }

  /** Notes that `name` ran from `from` until `to` (now by default), when recording; `track` as StepSpan's. */
  span(name: string, from: bigint, to: bigint = this.clock.ns(), track?: 'wire'): void {
    if (this.spans === undefined || to <= from) return;
    this.spans.push(
      track === undefined
        ? { name, startMs: this.ms(from), endMs: this.ms(to) }
        : { name, startMs: this.ms(from), endMs: this.ms(to), track },
    );
  }

  /** An optimizer step (its first micro-batch) begins at `at`. */
  startStep(at: bigint): void {
    this.started = at;
    if (this.recordSpans) this.spans = [];
  }

  add(phase: StepPhase, seconds: number): void {
    this.time[phase] += seconds;
  }

  /**
   * `phase` ran from `from` until now: counts it and, when recording, keeps the stretch under the
   * phase's name. Returns now, where the next phase starts (one clock reading for both).
   */
  timed(phase: StepPhase, from: bigint): bigint {
    const now = this.clock.ns();
    this.time[phase] += Number(now - from) / 1e9;
    this.span(phase, from, now);
    return now;
  }

  /**
   * The step's all-reduce took `seconds` of waiting; this rank was ready at `ready`, and the
   * neighbour's first message came at `firstArrival` (undefined with one rank). Until it came,
   * this rank had nothing to exchange: that part is peer wait.
   */
  communicated(seconds: number, ready: bigint, firstArrival: bigint | undefined): void {
    this.time.communication += seconds;
    if (firstArrival !== undefined && firstArrival > ready)
      this.time.peerWait += Math.min(seconds, Number(firstArrival - ready) / 1e9);
    this.metrics?.steps.allreduce(seconds);
    if (this.spans === undefined) return;
    const done = this.clock.ns();
    const exchangeFrom =
      firstArrival !== undefined && firstArrival > ready ? (firstArrival < done ? firstArrival : done) : ready;
    this.span('wait for peers', ready, exchangeFrom);
    this.span('exchange', exchangeFrom, done);
  }

  /** Ends the step: exports it to the metrics and returns its own split. */
  endStep(): StepSplit {
    const seconds = zero();
    for (const key of Object.keys(seconds) as (keyof StepTimes)[]) {
      seconds[key] = this.time[key] - this.reported[key];
      this.reported[key] = this.time[key];
    }
    this.metrics?.steps.step(this.since(this.started), seconds);
    const spans = this.spans;
    this.spans = undefined;
    return { seconds, spans };
  }
}
