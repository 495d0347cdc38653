/**
 * The coordinator's model of one job: rendezvous, then a running ring whose members hold
 * heartbeat leases, then done or failed with a reason. Time comes in as arguments (`nowMs`), so
 * the whole state machine is testable without a clock; the service feeds it Date.now().
 */
import { admit, decideRendezvous, type Member, type Peer, type RendezvousState } from './rendezvous';
import { describeLost, expiredLeases, type Lease } from './leases';

export type JobPhase = 'rendezvous' | 'running' | 'done' | 'failed';

export interface MemberProgress {
  lastSeenMs: number;
  step: number;
  epoch: number;
  finished: boolean;
}

export interface JobOptions {
  job: string;
  worldSize: number;
  configHash: string;
  joinTimeoutMs: number;
  leaseMs: number;
  startedAtMs: number;
}

export type JoinOutcome =
  | { kind: 'refused'; reason: string }
  | { kind: 'pending' }
  | { kind: 'formed'; ring: Peer[]; generation: number };

export class Job {
  phase: JobPhase = 'rendezvous';
  reason = '';
  generation = 0;
  ring: Peer[] = [];
  /** Samples processed, as last reported by rank 0 (job-wide). */
  samples = 0;
  readonly progress = new Map<string, MemberProgress>();
  private readonly rendezvous: RendezvousState;

  constructor(readonly opts: JobOptions) {
    this.rendezvous = { worldSize: opts.worldSize, members: [], deadlineMs: opts.startedAtMs + opts.joinTimeoutMs };
  }

  get members(): readonly Member[] {
    return this.rendezvous.members;
  }

  join(candidate: Member, nowMs: number): JoinOutcome {
    if (this.phase === 'failed' || this.phase === 'done') return { kind: 'refused', reason: `job is ${this.phase}${this.reason ? `: ${this.reason}` : ''}` };
    if (this.phase === 'running') {
      // A different config (another model) is the more useful thing to tell an intruder than "full".
      const verdict = admit({ ...this.rendezvous, members: [] }, candidate, this.opts.configHash);
      if (!verdict.ok) return { kind: 'refused', reason: verdict.reason };
      return { kind: 'refused', reason: `the ring (generation ${this.generation}) is already running with ${this.opts.worldSize} workers; this job takes no more` };
    }
    const verdict = admit(this.rendezvous, candidate, this.opts.configHash);
    if (!verdict.ok) return { kind: 'refused', reason: verdict.reason };
    // A worker that retries its join replaces its earlier entry instead of taking a second seat.
    this.rendezvous.members = this.rendezvous.members.filter((m) => m.workerId !== candidate.workerId).concat(candidate);
    return this.tick(nowMs);
  }

  /** Runs the time-driven decisions; returns what a pending join should now learn. */
  tick(nowMs: number): JoinOutcome {
    if (this.phase === 'rendezvous') {
      const action = decideRendezvous(this.rendezvous, nowMs);
      if (action.kind === 'form') {
        this.generation += 1;
        this.ring = action.ring;
        this.phase = 'running';
        for (const p of action.ring) this.progress.set(p.workerId, { lastSeenMs: nowMs, step: 0, epoch: 0, finished: false });
        return { kind: 'formed', ring: this.ring, generation: this.generation };
      }
      if (action.kind === 'timeout') {
        this.fail(`rendezvous timed out after ${this.opts.joinTimeoutMs / 1000} s: ${action.message}`);
        return { kind: 'refused', reason: this.reason };
      }
      return { kind: 'pending' };
    }
    if (this.phase === 'running') {
      const lost = expiredLeases(this.leases().filter((l) => !this.progress.get(l.workerId)?.finished), nowMs, this.opts.leaseMs);
      const first = lost[0];
      if (first !== undefined) this.fail(describeLost(first, nowMs));
    }
    return this.phase === 'running' ? { kind: 'formed', ring: this.ring, generation: this.generation } : { kind: 'refused', reason: this.reason };
  }

  heartbeat(workerId: string, step: number, epoch: number, nowMs: number): boolean {
    const p = this.progress.get(workerId);
    if (p === undefined) return false;
    p.lastSeenMs = nowMs;
    p.step = step;
    p.epoch = epoch;
    return true;
  }

  /** Returns false (and changes nothing) for a worker that never joined. */
  finish(workerId: string, ok: boolean, reason: string): boolean {
    // A worker refused at the door (other config, extra worker) reports its own failure too;
    // that must not fail the job of the workers that did join.
    if (!this.rendezvous.members.some((m) => m.workerId === workerId)) return false;
    const p = this.progress.get(workerId);
    if (!ok) {
      const rank = this.rankOf(workerId);
      this.fail(`worker ${rank >= 0 ? `rank ${rank} ` : ''}(${workerId}) failed: ${reason || 'no reason given'}`);
      return true;
    }
    if (p !== undefined) p.finished = true;
    if (this.phase === 'running' && this.ring.every((r) => this.progress.get(r.workerId)?.finished)) this.phase = 'done';
    return true;
  }

  fail(reason: string): void {
    if (this.phase === 'failed' || this.phase === 'done') return;
    this.phase = 'failed';
    this.reason = reason;
  }

  rankOf(workerId: string): number {
    return this.ring.find((p) => p.workerId === workerId)?.rank ?? -1;
  }

  leases(): Lease[] {
    return this.ring.map((p) => ({ rank: p.rank, workerId: p.workerId, address: p.address, lastSeenMs: this.progress.get(p.workerId)?.lastSeenMs ?? 0 }));
  }
}
