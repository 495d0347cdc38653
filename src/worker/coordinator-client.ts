/**
 * A worker's side of the control plane. Reaching the coordinator is retried with exponential
 * backoff until the connect deadline, because on a cluster workers often start before the
 * coordinator is ready (a classic Kubeflow failure); after that, every call has a deadline and
 * an error that names the coordinator's address.
 */
import * as grpc from '@grpc/grpc-js';
import { RingtrainError } from '../core';
import type { TlsFiles } from '../config';
import { tokenMetadata, channelCredentials, CHANNEL_OPTIONS, isServiceError, services, unary } from '../rpc';
import type { StepPoint, StepTiming } from '../observe';
import { REPORT_EVERY_MS, ReportPacer } from './report-pacer';

/** First retry delay; doubles up to MAX_BACKOFF_MS (grpc-js uses the same shape). */
export const INITIAL_BACKOFF_MS = 200;
export const MAX_BACKOFF_MS = 3_000;
/** Deadline of one small control-plane call. */
export const CALL_DEADLINE_MS = 5_000;

export interface RingPeer {
  rank: number;
  workerId: string;
  address: string;
}

export interface JoinResult {
  rank: number;
  worldSize: number;
  generation: number;
  ring: RingPeer[];
  shard: { seed: number; shuffle: boolean; dropLast: boolean };
  /** Rank that broadcasts the training state; -1 = fresh start (rank 0's initial weights). */
  stateSourceRank: number;
  /** Membership changes the job has survived so far. */
  restarts: number;
  /** No live state survived: resume from the latest checkpoint. */
  resumeFromCheckpoint: boolean;
}

export interface HeartbeatResult {
  state: 'JOB_STATE_UNSPECIFIED' | 'RENDEZVOUS' | 'RUNNING' | 'DONE' | 'FAILED';
  reason: string;
  generation: number;
}

export interface EpochReport {
  epoch: number;
  split: 'train' | 'val';
  loss: number;
  accuracy: number;
  samplesPerSec: number;
  samples: number;
}

/** What a worker sends for the live status page (see reportProgress). */
export interface ProgressUpdate {
  step: number;
  samples: number;
  points: StepPoint[];
  timing: StepTiming;
}

/** One Report call's content (see reportInBackground). */
interface QueuedReport {
  generation: number;
  step: number;
  samples: number;
  epochs: EpochReport[];
  onError: (e: RingtrainError) => void;
}

export class CoordinatorClient {
  private readonly client: grpc.Client;
  /** Epoch reports not sent yet, oldest first; one generation's are sent in one call. */
  private readonly queued: QueuedReport[] = [];
  /** Sending the queue, while it runs (reportInBackground). */
  private sending: Promise<void> | undefined;
  private readonly pacer: ReportPacer;

  constructor(
    readonly address: string,
    private readonly job: string,
    private readonly workerId: string,
    /** Join token sent with every call; undefined when the job has none. */
    private readonly token?: string,
    tlsFiles?: TlsFiles,
    /** Least time between two epoch-report calls (report-pacer.ts). */
    reportEveryMs = REPORT_EVERY_MS,
  ) {
    this.pacer = new ReportPacer(reportEveryMs);
    this.client = new (services().coordinator)(address, channelCredentials(tlsFiles), {
      ...CHANNEL_OPTIONS,
      // grpc-js redials on its own schedule (1 s x 1.6, up to 120 s) and fails calls fast in
      // between, so a worker that started long before its coordinator would not see it come up
      // until well after connectTimeout. Redial on the same schedule as our retries instead.
      'grpc.initial_reconnect_backoff_ms': INITIAL_BACKOFF_MS,
      'grpc.max_reconnect_backoff_ms': MAX_BACKOFF_MS,
    });
  }

  /**
   * Joins the rendezvous. Retries while the coordinator is unreachable (until connectTimeoutMs),
   * then holds the call open while the ring forms (up to joinTimeoutMs more).
   */
  async join(
    req: { address: string; rankHint: number; configHash: string; metricsUrl: string; modelFingerprint?: string },
    connectTimeoutMs: number,
    joinTimeoutMs: number,
    onRetry?: (attempt: number, delayMs: number, error: string) => void,
  ): Promise<JoinResult> {
    const giveUpAt = Date.now() + connectTimeoutMs;
    // A rank still held by a live worker (job.ts): ask again until it is declared lost, up to the join timeout.
    const rankFreeBy = Date.now() + joinTimeoutMs;
    let delay = INITIAL_BACKOFF_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        return await unary<object, JoinResult>(
          this.client,
          'Join',
          { job: this.job, workerId: this.workerId, ...req },
          joinTimeoutMs + CALL_DEADLINE_MS,
          tokenMetadata(this.token),
        );
      } catch (e) {
        const unreachable = isServiceError(e) && e.code === grpc.status.UNAVAILABLE;
        if (isServiceError(e) && e.code === grpc.status.ALREADY_EXISTS) {
          if (Date.now() >= rankFreeBy)
            throw new RingtrainError(
              'JOB_FAILED',
              `coordinator refused join for ${joinTimeoutMs / 1000} s: ${e.details}`,
            );
          await new Promise((r) => setTimeout(r, 500));
          continue;
        }
        if (!unreachable) throw this.explain(e, 'join');
        const remaining = giveUpAt - Date.now();
        if (remaining <= 0) {
          throw new RingtrainError(
            'UNAVAILABLE',
            `coordinator at ${this.address} did not answer for ${connectTimeoutMs / 1000} s ` +
              `(${attempt} attempts; last error: ${isServiceError(e) ? e.details : String(e)}): ` +
              'is it running, and is --coordinator (or RINGTRAIN_COORDINATOR) right?',
          );
        }
        const wait = Math.min(delay, remaining);
        onRetry?.(attempt, wait, isServiceError(e) ? e.details : String(e));
        await new Promise((r) => setTimeout(r, wait));
        delay = Math.min(delay * 2, MAX_BACKOFF_MS);
      }
    }
  }

  async heartbeat(
    generation: number,
    step: number,
    epoch: number,
    busySeconds = 0,
    commSeconds = 0,
    suspects: number[] = [],
  ): Promise<HeartbeatResult> {
    try {
      return await unary<object, HeartbeatResult>(
        this.client,
        'Heartbeat',
        { job: this.job, workerId: this.workerId, generation, step, epoch, busySeconds, commSeconds, suspects },
        CALL_DEADLINE_MS,
        tokenMetadata(this.token),
      );
    } catch (e) {
      throw this.explain(e, 'heartbeat');
    }
  }

  async report(generation: number, step: number, samples: number, epochs: EpochReport[]): Promise<void> {
    try {
      await unary(
        this.client,
        'Report',
        { job: this.job, workerId: this.workerId, generation, step, samples, epochs },
        CALL_DEADLINE_MS,
        tokenMetadata(this.token),
      );
    } catch (e) {
      throw this.explain(e, 'report');
    }
  }

  /**
   * Sends an epoch report without holding up training: the reply carries nothing the worker needs
   * (membership changes reach it by heartbeat), yet awaiting it held rank 0 for a coordinator round
   * trip while its peers waited at the next step (up to the call's deadline while the coordinator
   * restarts). One call is in flight at a time, in order, and at most one a second
   * (report-pacer.ts); reports queued meanwhile go in one call per generation, so a slow
   * coordinator never builds a backlog. finish() sends them at once, then says it is done.
   */
  reportInBackground(
    generation: number,
    step: number,
    samples: number,
    epochs: EpochReport[],
    onError: (e: RingtrainError) => void,
  ): void {
    const last = this.queued[this.queued.length - 1];
    if (last !== undefined && last.generation === generation) {
      last.step = step;
      last.samples = samples;
      last.epochs.push(...epochs);
    } else this.queued.push({ generation, step, samples, epochs: [...epochs], onError });
    this.sending ??= this.sendQueued();
  }

  /** Sends every queued report now and settles once each was answered or failed. */
  async reportsSettled(): Promise<void> {
    this.pacer.flush();
    await this.sending;
  }

  private async sendQueued(): Promise<void> {
    while (this.queued.length > 0) {
      await this.pacer.turn();
      // Reports that came in during the wait were merged into this one.
      const r = this.queued.shift() as QueuedReport;
      try {
        await this.report(r.generation, r.step, r.samples, r.epochs);
      } catch (e) {
        r.onError(e as RingtrainError);
      }
    }
    this.sending = undefined;
  }

  /**
   * Step-level progress for the coordinator's status page: the points since the last call (rank
   * 0) and this worker's time split over the same window. Rides on the Report RPC.
   */
  async reportProgress(generation: number, update: ProgressUpdate): Promise<void> {
    const { step, samples, points, timing } = update;
    try {
      await unary(
        this.client,
        'Report',
        { job: this.job, workerId: this.workerId, generation, step, samples, epochs: [], points, timing },
        CALL_DEADLINE_MS,
        tokenMetadata(this.token),
      );
    } catch (e) {
      throw this.explain(e, 'report');
    }
  }

  async finish(ok: boolean, reason: string): Promise<void> {
    // The coordinator must see the last epochs before it hears the worker is done.
    await this.reportsSettled();
    try {
      await unary(
        this.client,
        'Finish',
        { job: this.job, workerId: this.workerId, ok, reason },
        CALL_DEADLINE_MS,
        tokenMetadata(this.token),
      );
    } catch (e) {
      throw this.explain(e, 'finish');
    }
  }

  close(): void {
    this.client.close();
  }

  private explain(e: unknown, what: string): RingtrainError {
    if (!isServiceError(e)) return new RingtrainError('UNAVAILABLE', `coordinator ${what} failed: ${String(e)}`);
    if (e.code === grpc.status.NOT_FOUND) {
      // A restarted coordinator (or a re-formed ring) does not know this worker: re-join.
      return new RingtrainError(
        'NOT_MEMBER',
        `coordinator at ${this.address} does not know this worker (${what}): ${e.details}`,
      );
    }
    if (e.code === grpc.status.DEADLINE_EXCEEDED) {
      return new RingtrainError('TIMEOUT', `coordinator at ${this.address}: ${what} timed out: ${e.details}`);
    }
    if (e.code === grpc.status.UNAVAILABLE) {
      return new RingtrainError(
        'UNAVAILABLE',
        `coordinator at ${this.address} is unreachable during ${what}: ${e.details}`,
      );
    }
    // A worker restarted (or started late) after the job finished successfully: not a failure.
    if (e.code === grpc.status.FAILED_PRECONDITION && e.details.startsWith('job is done')) {
      return new RingtrainError(
        'JOB_DONE',
        `coordinator at ${this.address}: ${e.details}, so there is nothing to ${what}`,
      );
    }
    return new RingtrainError('JOB_FAILED', `coordinator refused ${what}: ${e.details}`);
  }
}
