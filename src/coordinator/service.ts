/**
 * The Coordinator gRPC service: a thin executor around `Job`. Join calls are held open until
 * the job's decision for them is known (ring formed, refused, or rendezvous timed out); a timer
 * ticks the time-driven decisions (rendezvous deadline, heartbeat leases). Refusals travel as
 * gRPC statuses whose details are the job's own message.
 */
import * as grpc from '@grpc/grpc-js';
import {
  type Logger,
  type CoordinatorMetrics,
  appendBounded,
  msPerStep,
  type StatusSnapshot,
  type StepPoint,
  type StepTiming,
  type WorkerRow,
} from '../observe';
import { services } from '../rpc';
import { Job, type JoinOutcome } from './job';
import { StragglerDetector } from './stragglers';

interface JoinRequest {
  job: string;
  workerId: string;
  address: string;
  rankHint: number;
  configHash: string;
  metricsUrl: string;
}

interface EpochReport {
  epoch: number;
  split: string;
  loss: number;
  accuracy: number;
  samplesPerSec: number;
  samples: number;
}

interface ReportRequest {
  job: string;
  workerId: string;
  step: number;
  samples: number;
  epochs: EpochReport[];
  /** Absent from workers built before the status page (proto3 defaults: [] and null). */
  points?: StepPoint[];
  timing?: StepTiming | null;
}

interface PendingJoin {
  workerId: string;
  reply: grpc.sendUnaryData<object>;
}

type Unary<Req> = (call: grpc.ServerUnaryCall<Req, object>, cb: grpc.sendUnaryData<object>) => void;

const PHASE_TO_PROTO = { rendezvous: 'RENDEZVOUS', running: 'RUNNING', done: 'DONE', failed: 'FAILED' } as const;

/** How often time-driven decisions run: well under the smallest sensible lease. */
export const TICK_MS = 200;

export class CoordinatorService {
  private pending: PendingJoin[] = [];
  private readonly stragglers = new StragglerDetector();
  private restartsSeen = 0;
  private timer: NodeJS.Timeout | undefined;
  private lastPhase: string;
  readonly epochs: EpochReport[] = [];
  /** Rank 0's step points, thinned when long (status page curves). */
  readonly points: StepPoint[] = [];
  /** Each worker's time split over its last reporting window. */
  private readonly timings = new Map<string, StepTiming>();
  /** Resolves once the job is done or failed. */
  readonly finished: Promise<Job>;
  private resolveFinished: (j: Job) => void = () => undefined;

  constructor(
    readonly job: Job,
    private readonly log: Logger,
    private readonly metrics: CoordinatorMetrics,
    private readonly shard: { seed: number; shuffle: boolean; dropLast: boolean },
    private readonly clock: () => number = Date.now,
  ) {
    this.lastPhase = job.phase;
    this.finished = new Promise((resolve) => (this.resolveFinished = resolve));
    this.metrics.worldSize.set(job.opts.worldSize);
  }

  start(): void {
    this.timer = setInterval(() => this.settle(this.job.tick(this.clock())), TICK_MS);
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    for (const p of this.pending) p.reply({ code: grpc.status.UNAVAILABLE, details: 'coordinator is shutting down' });
    this.pending = [];
  }

  implementation(): grpc.UntypedServiceImplementation {
    const join: Unary<JoinRequest> = (call, cb) => this.onJoin(call.request, cb);
    return { Join: join, Heartbeat: this.heartbeat, Report: this.report, Finish: this.finish, Status: this.status };
  }

  /** A worker's heartbeat: its progress, the ranks it suspects, and the job's phase in reply. */
  private readonly heartbeat: Unary<{
    job: string;
    workerId: string;
    step: number;
    epoch: number;
    busySeconds: number;
    suspects?: number[];
  }> = (call, cb) => {
    const r = call.request;
    if (!this.sameJob(r.job, cb)) return;
    const known = this.job.heartbeat(r.workerId, r.step, r.epoch, this.clock());
    if (!known && this.job.phase === 'running') {
      cb({
        code: grpc.status.NOT_FOUND,
        details: `worker ${r.workerId} is not a member of generation ${this.job.generation}`,
      });
      return;
    }
    if (known) this.watchStragglers(this.job.rankOf(r.workerId), r.step, r.busySeconds);
    const suspects = r.suspects ?? [];
    if (known && suspects.length > 0) {
      for (const s of suspects) this.job.accuse(s, this.clock());
      this.observePhase();
    }
    this.metrics.step.set(Math.max(...[...this.job.progress.values()].map((p) => p.step), 0));
    cb(null, { state: PHASE_TO_PROTO[this.job.phase], reason: this.job.reason, generation: this.job.generation });
  };

  /** A worker's progress points and finished epochs (rank 0's count for the job). */
  private readonly report: Unary<ReportRequest> = (call, cb) => {
    const r = call.request;
    if (!this.sameJob(r.job, cb)) return;
    this.recordProgress(r);
    if (this.job.rankOf(r.workerId) === 0) {
      this.metrics.samplesTotal.inc(Math.max(0, r.samples - this.job.samples));
      this.job.samples = Math.max(this.job.samples, r.samples);
      for (const e of r.epochs) {
        this.epochs.push(e);
        this.metrics.epoch.set(e.epoch);
        this.metrics.recordEpoch(e);
      }
      // Workers waiting to join a running job get in at an epoch boundary.
      if (r.epochs.length > 0) {
        this.job.epochBoundary(this.clock());
        this.settle(this.job.tick(this.clock()));
      }
    }
    cb(null, {});
  };

  /** A worker says it finished (ok or failed). */
  private readonly finish: Unary<{ job: string; workerId: string; ok: boolean; reason: string }> = (call, cb) => {
    const r = call.request;
    if (!this.sameJob(r.job, cb)) return;
    if (!this.job.finish(r.workerId, r.ok, r.reason)) {
      this.log.warn(
        { workerId: r.workerId, ok: r.ok },
        `ignoring finish from ${r.workerId}, which is not a member of this job: ${r.reason || 'no reason given'}`,
      );
      cb({
        code: grpc.status.NOT_FOUND,
        details: `worker ${r.workerId} is not a member of job '${this.job.opts.job}'; its finish is ignored`,
      });
      return;
    }
    this.observePhase();
    cb(null, { state: PHASE_TO_PROTO[this.job.phase] });
  };

  /** The job and its workers as the status page and `ringtrain status` show them. */
  private readonly status: Unary<object> = (_call, cb) => {
    const now = this.clock();
    cb(null, {
      job: this.job.opts.job,
      state: PHASE_TO_PROTO[this.job.phase],
      reason: this.job.reason,
      generation: this.job.generation,
      worldSize: this.job.opts.worldSize,
      workers: this.job.ring.map((p) => {
        const prog = this.job.progress.get(p.workerId);
        const m = this.job.members.find((x) => x.workerId === p.workerId);
        return {
          rank: p.rank,
          workerId: p.workerId,
          address: p.address,
          lastHeartbeatAgeSec: prog ? (now - prog.lastSeenMs) / 1000 : -1,
          step: prog?.step ?? 0,
          epoch: prog?.epoch ?? 0,
          metricsUrl: m?.metricsUrl ?? '',
          straggler: this.stragglers.isStraggler(p.rank),
        };
      }),
    });
  };

  serviceDefinition(): grpc.ServiceDefinition {
    return services().coordinator.service;
  }

  /** The status page's view of the job (served as /status.json). */
  snapshot(): StatusSnapshot {
    const now = this.clock();
    const rows: WorkerRow[] = this.job.ring.map((p) => {
      const prog = this.job.progress.get(p.workerId);
      const t = this.timings.get(p.workerId);
      const row: WorkerRow = {
        rank: p.rank,
        workerId: p.workerId,
        address: p.address,
        metricsUrl: this.job.members.find((x) => x.workerId === p.workerId)?.metricsUrl ?? '',
        lastHeartbeatAgeSec: prog ? (now - prog.lastSeenMs) / 1000 : -1,
        step: prog?.step ?? 0,
        epoch: prog?.epoch ?? 0,
        straggler: this.stragglers.isStraggler(p.rank),
      };
      if (t !== undefined) row.msPerStep = msPerStep(t);
      return row;
    });
    return {
      job: this.job.opts.job,
      state: this.job.phase,
      reason: this.job.reason,
      generation: this.job.generation,
      worldSize: this.job.opts.worldSize,
      startedAtMs: this.job.opts.startedAtMs,
      nowMs: now,
      step: Math.max(0, ...rows.map((r) => r.step), this.points.at(-1)?.step ?? 0),
      samples: this.job.samples,
      workers: rows,
      points: this.points,
      epochs: this.epochs.map((e) => ({
        epoch: e.epoch,
        split: e.split,
        loss: e.loss,
        accuracy: e.accuracy,
        samplesPerSec: e.samplesPerSec,
      })),
    };
  }

  /** Step points (rank 0's) and every worker's latest time split, for the status page. */
  private recordProgress(r: ReportRequest): void {
    const rank = this.job.rankOf(r.workerId);
    if (rank < 0) return;
    if (rank === 0 && r.points !== undefined && r.points.length > 0) appendBounded(this.points, r.points);
    if (r.timing && r.timing.steps > 0) this.timings.set(r.workerId, r.timing);
  }

  /** Records a failure decided outside the service (a signal) and answers held joins. */
  finishedByStop(): void {
    this.settle({ kind: 'refused', reason: this.job.reason });
  }

  /** Feeds the detector; names a rank once when it becomes a straggler, and once when it recovers. */
  private watchStragglers(rank: number, step: number, busySeconds: number): void {
    if (rank < 0 || busySeconds <= 0) return;
    const before = this.stragglers.isStraggler(rank);
    this.stragglers.observe(rank, step, busySeconds);
    const after = this.stragglers.isStraggler(rank);
    if (after && !before) {
      const s = this.stragglers.stragglers().find((x) => x.rank === rank);
      this.log.warn(
        { event: 'straggler', rank, ratio: s?.ratio },
        `rank ${rank} is a straggler: ${(s?.ratio ?? 0).toFixed(2)}x the median busy time per step of the other ranks`,
      );
    } else if (before && !after) {
      this.log.info({ event: 'straggler-recovered', rank }, `rank ${rank} is no longer a straggler`);
    }
    this.onStragglers?.(this.stragglers.stragglers().map((x) => x.rank));
  }

  /** Called on every phase change (the runner persists the coordinator's state from it). */
  onPhaseChange?: (job: Job) => void;

  /** Hears the job's failure once, with its reason (set by the runner). */
  onFailed?: (reason: string) => void;

  /** Hook for the job-level straggler metric (set by the runner). */
  onStragglers?: (ranks: number[]) => void;

  private sameJob(job: string, cb: grpc.sendUnaryData<object>): boolean {
    if (job === this.job.opts.job) return true;
    cb({
      code: grpc.status.FAILED_PRECONDITION,
      details: `this coordinator runs job '${this.job.opts.job}', not '${job}'`,
    });
    return false;
  }

  private onJoin(r: JoinRequest, cb: grpc.sendUnaryData<object>): void {
    if (!this.sameJob(r.job, cb)) return;
    if (!r.workerId || !r.address) {
      cb({
        code: grpc.status.INVALID_ARGUMENT,
        details: 'join needs a worker id and the address of its Collective service',
      });
      return;
    }
    const wasRendezvous = this.job.phase === 'rendezvous';
    const outcome = this.job.join({ ...r, joinedAtMs: this.clock() }, this.clock());
    // Only a join that was admitted and then hit the rendezvous deadline is held and answered with
    // the timeout below; a join to a job that already ended is refused like any other.
    if (outcome.kind === 'refused' && outcome.busy === true) {
      // Not counted as a refusal: a restarted worker asks again until its predecessor is declared lost.
      this.log.warn({ workerId: r.workerId, address: r.address }, `join deferred: ${outcome.reason}`);
      cb({ code: grpc.status.ALREADY_EXISTS, details: outcome.reason });
      return;
    }
    if (outcome.kind === 'refused' && !(wasRendezvous && this.job.phase === 'failed')) {
      this.log.warn({ workerId: r.workerId, address: r.address }, `join refused: ${outcome.reason}`);
      const reason = /different job config/.test(outcome.reason)
        ? 'config'
        : /different model/.test(outcome.reason)
          ? 'model'
          : /no more|already has/.test(outcome.reason)
            ? 'full'
            : 'other';
      this.metrics.refusedTotal.inc({ reason });
      cb({ code: grpc.status.FAILED_PRECONDITION, details: outcome.reason });
      return;
    }
    this.metrics.joinsTotal.inc();
    this.log.info(
      { workerId: r.workerId, address: r.address, rankHint: r.rankHint },
      `worker joined (${this.job.members.length}/${this.job.opts.worldSize})`,
    );
    this.pending.push({ workerId: r.workerId, reply: cb });
    this.settle(outcome);
  }

  /** Answers held joins once the outcome is decided, and tracks phase changes. */
  private settle(outcome: JoinOutcome): void {
    if (outcome.kind === 'formed' && this.pending.length > 0) {
      // A worker waiting to join a running ring with room is not in this ring: it waits on
      // (job.ts admits it at the next epoch boundary) instead of learning a rank of -1.
      const inRing = this.pending.filter((p) => this.job.rankOf(p.workerId) >= 0);
      this.pending = this.pending.filter((p) => this.job.rankOf(p.workerId) < 0);
      for (const p of inRing) {
        p.reply(null, {
          rank: this.job.rankOf(p.workerId),
          // The ring's size, not the job file's: an elastic ring may have re-formed smaller.
          worldSize: outcome.ring.length,
          generation: outcome.generation,
          ring: outcome.ring,
          shard: this.shard,
          stateSourceRank: this.job.stateSourceRank,
          restarts: this.job.restarts,
          resumeFromCheckpoint: this.job.resumeFromCheckpoint,
        });
      }
    } else if (outcome.kind === 'refused' && this.pending.length > 0) {
      for (const p of this.pending) p.reply({ code: grpc.status.DEADLINE_EXCEEDED, details: outcome.reason });
      this.pending = [];
    }
    this.observePhase();
  }

  private observePhase(): void {
    const job = this.job;
    this.metrics.generation.set(job.generation);
    this.metrics.workers.set(job.phase === 'running' ? job.ring.length : 0);
    if (job.phase === this.lastPhase) return;
    const was = this.lastPhase;
    this.lastPhase = job.phase;
    this.onPhaseChange?.(job);
    if (job.phase === 'rendezvous' && was === 'running') {
      if (job.restarts > this.restartsSeen) this.metrics.restartsTotal.inc(job.restarts - this.restartsSeen);
      this.restartsSeen = job.restarts;
      this.stragglers.reset();
      this.log.warn(
        { event: 'membership-change', restarts: job.restarts, maxRestarts: job.opts.maxRestarts ?? 0 },
        `membership change: ${job.lastChange}; re-forming the ring (restart ${job.restarts} of ${job.opts.maxRestarts ?? 0})`,
      );
    }
    if (job.phase === 'running') {
      this.metrics.setState('running');
      const recovery = job.generation > 1 && job.lastRecoveryMs !== undefined ? job.lastRecoveryMs / 1000 : undefined;
      if (recovery !== undefined) this.metrics.recoverySeconds.set(recovery);
      this.log.info(
        {
          event: 'ring-formed',
          generation: job.generation,
          ring: job.ring,
          stateSourceRank: job.stateSourceRank,
          recoverySeconds: recovery,
        },
        `ring formed: generation ${job.generation}, ${job.ring.length} workers` +
          (recovery !== undefined
            ? `, recovered in ${recovery.toFixed(1)} s with the state of rank ${job.stateSourceRank}`
            : ''),
      );
    } else if (job.phase === 'done') {
      this.metrics.setState('done');
      this.log.info({ event: 'job-done' }, 'job done: every worker finished');
      this.resolveFinished(job);
    } else if (job.phase === 'failed') {
      this.metrics.setState('failed');
      this.log.error({ event: 'job-failed', reason: job.reason }, `job failed: ${job.reason}`);
      this.onFailed?.(job.reason);
      this.resolveFinished(job);
    }
  }
}
