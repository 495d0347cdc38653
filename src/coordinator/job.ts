/**
 * The coordinator's model of one job: rendezvous, then a running ring whose members hold
 * heartbeat leases, then done or failed with a reason. Time comes in as arguments (`nowMs`), so
 * the whole state machine is testable without a clock; the service feeds it Date.now().
 *
 * Elasticity (torchrun's model): when a member is lost (lease expired, accused by a peer whose
 * collective it broke, or replaced by a new process with its rank), and restarts remain, the job
 * goes back to rendezvous for the next generation instead of failing. Survivors learn it from
 * their heartbeat, abandon the old generation's collectives and join again; the new ring forms
 * with between minWorkers and maxWorkers members, and `stateSourceRank` names the lowest new
 * rank that still holds the training state, which it then broadcasts. A worker may also join a
 * running job with room to spare: it waits, and the ring re-forms at the next epoch boundary.
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
  /** Workers of a full ring (maxWorkers). */
  worldSize: number;
  configHash: string;
  joinTimeoutMs: number;
  leaseMs: number;
  startedAtMs: number;
  /** Fewest workers a ring may (re-)form with; default worldSize (no shrinking). */
  minWorkers?: number;
  /** Membership changes survived before the job fails; default 0 (fail at the first loss). */
  maxRestarts?: number;
  /** With minWorkers in, how long a rendezvous waits for the rest; default 0. */
  lastCallMs?: number;
  /** A peer's accusation is believed once the accused has been silent this long. */
  suspectGraceMs?: number;
}

export type JoinOutcome =
  | {
      kind: 'refused';
      reason: string;
      /** The rank is held by a live worker: worth asking again once it is declared lost. */ busy?: boolean;
    }
  | { kind: 'pending' }
  | { kind: 'formed'; ring: Peer[]; generation: number };

export class Job {
  phase: JobPhase = 'rendezvous';
  reason = '';
  generation = 0;
  ring: Peer[] = [];
  /** Samples processed, as last reported by rank 0 (job-wide). */
  samples = 0;
  /** Membership changes survived so far. */
  restarts = 0;
  /** Rank in the current ring that broadcasts the training state; -1 = fresh start. */
  stateSourceRank = -1;
  /** How long the last re-formation took, from the loss to the new ring (ms). */
  lastRecoveryMs: number | undefined;
  /** Why the last re-formation happened. */
  lastChange = '';
  /**
   * The ring re-formed without any holder of the live state (every worker was replaced, or a
   * restarted coordinator saw none of the old ones come back): workers resume from the latest
   * checkpoint instead of starting over.
   */
  resumeFromCheckpoint = false;
  readonly progress = new Map<string, MemberProgress>();
  /** The first admitted worker's model fingerprint; later workers must match it. */
  modelFingerprint = '';
  private readonly rendezvous: RendezvousState;
  /** Workers of the previous generation, which hold the training state. */
  private holders = new Set<string>();
  private lostAtMs: number | undefined;
  /** Joiners waiting for the next epoch boundary (running job with room). */
  private readonly waiting: Member[] = [];

  constructor(readonly opts: JobOptions) {
    this.rendezvous = {
      worldSize: opts.worldSize,
      members: [],
      deadlineMs: opts.startedAtMs + opts.joinTimeoutMs,
      minWorkers: opts.minWorkers,
      lastCallMs: opts.lastCallMs,
    };
  }

  get members(): readonly Member[] {
    return this.rendezvous.members;
  }

  join(candidate: Member, nowMs: number): JoinOutcome {
    if (this.phase === 'failed' || this.phase === 'done')
      return { kind: 'refused', reason: `job is ${this.phase}${this.reason ? `: ${this.reason}` : ''}` };
    const fp = candidate.modelFingerprint ?? '';
    if (
      fp !== '' &&
      this.modelFingerprint !== '' &&
      fp !== this.modelFingerprint &&
      candidate.configHash === this.opts.configHash
    ) {
      const [mine, theirs] = [fp, this.modelFingerprint].map(
        (f) => `${f.split(':')[0]} parameters, shapes ${f.split(':')[1]?.slice(0, 12)}`,
      );
      return {
        kind: 'refused',
        reason: `worker ${candidate.workerId} built a different model (${mine}) than the ring's (${theirs}): every worker must build the same model (check model.module on that machine)`,
      };
    }
    if (fp !== '' && this.modelFingerprint === '' && candidate.configHash === this.opts.configHash)
      this.modelFingerprint = fp;
    if (this.phase === 'running') {
      // A different config (another model) is the more useful thing to tell an intruder than "full".
      const verdict = admit({ ...this.rendezvous, members: [] }, candidate, this.opts.configHash);
      if (!verdict.ok) return { kind: 'refused', reason: verdict.reason };
      const replaced =
        candidate.rankHint >= 0
          ? this.rendezvous.members.find((m) => m.rankHint === candidate.rankHint && m.workerId !== candidate.workerId)
          : undefined;
      if (replaced !== undefined && this.restarts < (this.opts.maxRestarts ?? 0)) {
        // A new process with a member's rank: the launcher (or Kubernetes) restarted a worker,
        // unless the holder is alive, and then the newcomer is a mistake or an intruder.
        const silentMs = nowMs - (this.progress.get(replaced.workerId)?.lastSeenMs ?? 0);
        if (silentMs < (this.opts.suspectGraceMs ?? this.opts.leaseMs)) {
          const reason = `rank ${candidate.rankHint} is held by worker ${replaced.workerId} at ${replaced.address}, which is alive (last heartbeat ${(silentMs / 1000).toFixed(1)} s ago): each live worker needs its own RANK; a restarted worker is admitted once its predecessor is declared lost`;
          return { kind: 'refused', reason, busy: true };
        }
        this.memberLost(
          replaced.workerId,
          `worker rank ${this.rankOf(replaced.workerId)} (${replaced.workerId}) was replaced by ${candidate.workerId}`,
          nowMs,
        );
        return this.join(candidate, nowMs);
      }
      if (this.ring.length < this.opts.worldSize) {
        this.waiting.push(candidate);
        return { kind: 'pending' };
      }
      return {
        kind: 'refused',
        reason: `the ring (generation ${this.generation}) is already running with ${this.ring.length} workers; this job takes no more`,
      };
    }
    const verdict = admit(this.rendezvous, candidate, this.opts.configHash);
    if (!verdict.ok) return { kind: 'refused', reason: verdict.reason };
    // A worker that retries its join replaces its earlier entry instead of taking a second seat.
    this.rendezvous.members = this.rendezvous.members
      .filter((m) => m.workerId !== candidate.workerId)
      .concat(candidate);
    if (
      this.rendezvous.minReachedAtMs === undefined &&
      this.rendezvous.members.length >= (this.opts.minWorkers ?? this.opts.worldSize)
    ) {
      this.rendezvous.minReachedAtMs = nowMs;
    }
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
        this.rendezvous.members = this.rendezvous.members.filter((m) =>
          action.ring.some((p) => p.workerId === m.workerId),
        );
        this.progress.clear();
        for (const p of action.ring)
          this.progress.set(p.workerId, { lastSeenMs: nowMs, step: 0, epoch: 0, finished: false });
        const source = action.ring.find((p) => this.holders.has(p.workerId));
        this.stateSourceRank = source?.rank ?? -1;
        this.resumeFromCheckpoint = this.generation > 1 && source === undefined;
        if (this.lostAtMs !== undefined) this.lastRecoveryMs = nowMs - this.lostAtMs;
        this.lostAtMs = undefined;
        return { kind: 'formed', ring: this.ring, generation: this.generation };
      }
      if (action.kind === 'timeout') {
        this.fail(`rendezvous timed out after ${this.opts.joinTimeoutMs / 1000} s: ${action.message}`);
        return { kind: 'refused', reason: this.reason };
      }
      return { kind: 'pending' };
    }
    if (this.phase === 'running') {
      const lost = expiredLeases(
        this.leases().filter((l) => !this.progress.get(l.workerId)?.finished),
        nowMs,
        this.opts.leaseMs,
      );
      const first = lost[0];
      if (first !== undefined) this.memberLost(first.workerId, describeLost(first, nowMs), nowMs);
    }
    // memberLost may have moved the phase on; TypeScript cannot see that through the call.
    const phase = this.phase as JobPhase;
    if (phase === 'running') return { kind: 'formed', ring: this.ring, generation: this.generation };
    return phase === 'rendezvous' ? { kind: 'pending' } : { kind: 'refused', reason: this.reason };
  }

  heartbeat(workerId: string, step: number, epoch: number, nowMs: number): boolean {
    const p = this.progress.get(workerId);
    if (p === undefined) return false;
    p.lastSeenMs = nowMs;
    p.step = step;
    p.epoch = epoch;
    return true;
  }

  /**
   * A member says its ring neighbour `suspectRank` broke a collective (connection closed, timed
   * out). Believed once the suspect has also been silent for the grace period, so a dead worker
   * is noticed in about two heartbeats rather than a whole lease.
   */
  accuse(suspectRank: number, nowMs: number): void {
    if (this.phase !== 'running') return;
    const suspect = this.ring.find((p) => p.rank === suspectRank);
    if (suspect === undefined) return;
    const seen = this.progress.get(suspect.workerId);
    if (seen === undefined || seen.finished) return;
    const silentMs = nowMs - seen.lastSeenMs;
    if (silentMs < (this.opts.suspectGraceMs ?? this.opts.leaseMs)) return;
    this.memberLost(
      suspect.workerId,
      `${describeLost({ rank: suspectRank, workerId: suspect.workerId, address: suspect.address, lastSeenMs: seen.lastSeenMs }, nowMs)} (and its ring neighbour lost it)`,
      nowMs,
    );
  }

  /** At an epoch boundary (rank 0's report), admits workers waiting to join a running job. */
  epochBoundary(nowMs: number): void {
    if (this.phase !== 'running' || this.waiting.length === 0) return;
    const joiners = this.waiting.splice(0);
    this.regenerate(
      this.ring.map((p) => p.workerId),
      `${joiners.length} worker(s) joining at an epoch boundary`,
      nowMs,
    );
    for (const j of joiners) this.join(j, nowMs);
  }

  /** Returns false (and changes nothing) for a worker that never joined. */
  finish(workerId: string, ok: boolean, reason: string): boolean {
    // A worker refused at the door (other config, extra worker) reports its own failure too;
    // that must not fail the job of the workers that did join.
    const rejoined = this.rendezvous.members.some((m) => m.workerId === workerId);
    // A holder of the last generation's state that has not re-joined yet is still one of us.
    const holder = this.holders.has(workerId) && (this.phase === 'rendezvous' || this.phase === 'done');
    if (!rejoined && !this.progress.has(workerId) && !holder) return false;
    if (ok && this.phase === 'rendezvous' && holder && !rejoined) {
      // A holder of the last generation finishing before it re-joined (the coordinator restarted,
      // or a peer died, after the last step): workers finish only after a barrier that every
      // replica passed, so the training is complete and there is nothing left to re-form for.
      this.phase = 'done';
      return true;
    }
    const p = this.progress.get(workerId);
    if (!ok) {
      const rank = this.rankOf(workerId);
      this.fail(`worker ${rank >= 0 ? `rank ${rank} ` : ''}(${workerId}) failed: ${reason || 'no reason given'}`);
      return true;
    }
    if (p !== undefined) p.finished = true;
    if (this.phase === 'running' && this.ring.every((r) => this.progress.get(r.workerId)?.finished))
      this.phase = 'done';
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
    return this.ring.map((p) => ({
      rank: p.rank,
      workerId: p.workerId,
      address: p.address,
      lastSeenMs: this.progress.get(p.workerId)?.lastSeenMs ?? 0,
    }));
  }

  /**
   * Picks up where a previous coordinator of this job left off (its state file): the next
   * generation forms around the workers that held the state, which re-join once they notice.
   */
  recover(saved: { generation: number; restarts: number; holders: string[] }, nowMs: number): void {
    this.generation = saved.generation;
    this.restarts = saved.restarts;
    this.regenerate(saved.holders, `coordinator restarted at generation ${saved.generation}`, nowMs);
  }

  /**
   * Hears each member declared lost (silent past its lease, accused by a neighbour, replaced),
   * so whoever runs that process (the launcher) can kill and restart it: a hung process does
   * not exit on its own.
   */
  onLost?: (lost: { workerId: string; rank: number; reason: string }) => void;

  /** A member is gone: re-form without it while restarts remain, else fail with the reason. */
  private memberLost(workerId: string, reason: string, nowMs: number): void {
    this.onLost?.({ workerId, rank: this.rankOf(workerId), reason });
    const maxRestarts = this.opts.maxRestarts ?? 0;
    if (this.restarts >= maxRestarts) {
      this.fail(maxRestarts > 0 ? `${reason}; no restarts left (${this.restarts} of ${maxRestarts} used)` : reason);
      return;
    }
    this.restarts += 1;
    this.regenerate(
      this.ring.map((p) => p.workerId).filter((id) => id !== workerId),
      reason,
      nowMs,
    );
  }

  /** Back to rendezvous: everyone (survivors included) must join the next generation. */
  private regenerate(holders: string[], reason: string, nowMs: number): void {
    this.holders = new Set(holders);
    this.lastChange = reason;
    this.lostAtMs = nowMs;
    this.phase = 'rendezvous';
    this.rendezvous.members = [];
    this.rendezvous.minReachedAtMs = undefined;
    this.rendezvous.deadlineMs = nowMs + this.opts.joinTimeoutMs;
    // Survivors stay known so their heartbeats are answered (with RENDEZVOUS) until they re-join.
    for (const id of [...this.progress.keys()]) if (!this.holders.has(id)) this.progress.delete(id);
  }
}
