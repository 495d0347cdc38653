/**
 * A worker's life cycle as pure decisions, in the manner of the coordinator's rendezvous:
 * `decide(state, event, nowMs)` takes what just happened (joined, trained, the ring broke, the
 * coordinator's heartbeat verdict, a deadline tick) and returns the next state and the one
 * action to take (join, train, abort the ring, ask the coordinator, re-join, finish, give up).
 * run-worker.ts only executes the actions, so tests set a state, pick a clock value and assert
 * one action, with no sockets and no sleeps.
 *
 * The elastic path (cluster.maxRestarts > 0): when the ring breaks, a worker keeps its live
 * training state and either re-joins at once (the coordinator already called a new rendezvous)
 * or names its two neighbours as suspects and heartbeats until the coordinator answers: a new
 * rendezvous (re-join) or the job's failure (give up), for at most the verdict deadline. A fixed
 * ring gives up on the first break.
 */
import { isRingtrainError, type RingtrainErrorCode } from '../core';

/** Errors a re-formed ring can cure (a lost or restarted peer); a size mismatch is a config error. */
export const RECOVERABLE = new Set([
  'UNAVAILABLE',
  'TIMEOUT',
  'ABORTED',
  'PEER_REFUSED',
  'STALE_GENERATION',
  'REGENERATING',
  'NOT_MEMBER',
]);

/** Heartbeats while waiting for the coordinator's verdict come this often. */
export const VERDICT_POLL_MS = 200;

export type Phase = 'start' | 'joining' | 'training' | 'awaiting-verdict' | 'finishing' | 'done' | 'failed';

/** An error as the life cycle sees it: its code (RingtrainError's, or INTERNAL) and message. */
export interface Failure {
  code: RingtrainErrorCode | 'INTERNAL';
  message: string;
  /** The error itself, rethrown as it is when the life cycle gives up on it. */
  cause?: unknown;
}

export interface LifeState {
  phase: Phase;
  /** cluster.maxRestarts > 0: a broken ring is re-formed rather than the end. */
  elastic: boolean;
  /** How long the coordinator's verdict on a broken ring may take (verdictWaitMs). */
  verdictMs: number;
  /** -1 until the coordinator has admitted this worker. */
  rank: number;
  world: number;
  generation: number;
  /** The coordinator said the job failed (heartbeat); once set, it stays. */
  fatal?: string;
  /** The coordinator called a new rendezvous during this generation. */
  regenerating?: string;
  /** While awaiting a verdict: the ring's error and when to stop waiting. */
  broken?: Failure;
  verdictDeadlineMs?: number;
}

export type LifeEvent =
  | { kind: 'start' }
  | { kind: 'joined'; rank: number; world: number; generation: number }
  | { kind: 'trained' }
  | { kind: 'train-failed'; error: Failure }
  /** The coordinator's heartbeat answer: the job failed. */
  | { kind: 'fatal'; reason: string }
  /** The coordinator's heartbeat answer: a new ring is forming. */
  | { kind: 'rendezvous'; reason: string }
  /** A heartbeat (or the pause after it) while awaiting the verdict is over. */
  | { kind: 'heartbeat-done' }
  | { kind: 'paused' }
  | { kind: 'finished' }
  /** Anything else failed (setup, joining, the final evaluation or save). */
  | { kind: 'failed'; error: Failure };

export type LifeAction =
  | { kind: 'join' }
  | { kind: 'train' }
  /** Abandon the collectives in flight with this error (the heartbeat's verdict came mid-step). */
  | { kind: 'abort-ring'; error: Failure }
  /** The ring broke: name the suspects and heartbeat now, to hear the coordinator's verdict. */
  | { kind: 'report-broken'; suspects: number[]; error: Failure }
  /** Heartbeat again, still waiting for the verdict. */
  | { kind: 'heartbeat' }
  | { kind: 'pause'; ms: number }
  /** Keep the live training state and join the next generation. */
  | { kind: 'rejoin'; reason: string }
  | { kind: 'finish' }
  | { kind: 'exit' }
  /** Fail with this error; `report`: tell the coordinator (it admitted this worker). */
  | { kind: 'give-up'; error: Failure; report: boolean }
  | { kind: 'none' };

export interface Decision {
  state: LifeState;
  action: LifeAction;
}

export function initialLife(elastic: boolean, verdictMs: number): LifeState {
  return { phase: 'start', elastic, verdictMs, rank: -1, world: 0, generation: 0 };
}

/** The coordinator-side timings a verdict on a broken ring may take, in ms. */
export function verdictWaitMs(
  c: { leaseTimeoutSec: number; heartbeatIntervalSec: number },
  coordinatorGraceMs: number,
): number {
  // As long as the coordinator may take to come back (a hung one is being replaced meanwhile).
  return Math.max((c.leaseTimeoutSec + 2 * c.heartbeatIntervalSec) * 1000, coordinatorGraceMs) + 2000;
}

/** The neighbours a broken ring suspects: the successor and the predecessor (none alone). */
export function neighbours(rank: number, world: number): number[] {
  return world > 1 ? [...new Set([(rank + 1) % world, (rank - 1 + world) % world])] : [];
}

/** Why the training step must stop before its next micro-batch, if it must. */
export function abortReason(s: LifeState): { code: 'JOB_FAILED' | 'REGENERATING'; message: string } | undefined {
  if (s.fatal !== undefined) return { code: 'JOB_FAILED', message: s.fatal };
  if (s.regenerating !== undefined) return { code: 'REGENERATING', message: s.regenerating };
  return undefined;
}

export function decide(s: LifeState, e: LifeEvent, nowMs: number): Decision {
  switch (e.kind) {
    case 'start':
      return { state: { ...s, phase: 'joining' }, action: { kind: 'join' } };
    case 'joined':
      return {
        state: {
          ...s,
          phase: 'training',
          rank: e.rank,
          world: e.world,
          generation: e.generation,
          regenerating: undefined,
          broken: undefined,
          verdictDeadlineMs: undefined,
        },
        action: { kind: 'train' },
      };
    case 'trained':
      return { state: { ...s, phase: 'finishing' }, action: { kind: 'finish' } };
    case 'finished':
      return { state: { ...s, phase: 'done' }, action: { kind: 'exit' } };
    case 'train-failed':
      return ringBroken(s, e.error, nowMs);
    case 'fatal':
      return heard({ ...s, fatal: e.reason }, { code: 'JOB_FAILED', message: e.reason });
    case 'rendezvous':
      // A fixed-size ring has no next generation to join: its collectives fail on their own.
      if (!s.elastic) return { state: s, action: { kind: 'none' } };
      return heard({ ...s, regenerating: e.reason }, { code: 'REGENERATING', message: e.reason });
    case 'heartbeat-done':
    case 'paused':
      return awaitVerdict(s, e.kind, nowMs);
    case 'failed':
      return giveUp(
        s,
        s.fatal !== undefined && e.error.code !== 'CONFIG_INVALID' ? { code: 'JOB_FAILED', message: s.fatal } : e.error,
      );
  }
}

/**
 * A heartbeat verdict: collectives in flight (training, or the final evaluation and barrier) are
 * abandoned rather than left to time out; otherwise it waits to be read.
 */
function heard(s: LifeState, error: Failure): Decision {
  const ringInUse = s.phase === 'training' || s.phase === 'finishing';
  return { state: s, action: ringInUse ? { kind: 'abort-ring', error } : { kind: 'none' } };
}

function giveUp(s: LifeState, error: Failure): Decision {
  // A worker the coordinator never admitted has no failure to report: its refusal was the answer.
  return { state: { ...s, phase: 'failed' }, action: { kind: 'give-up', error, report: s.rank >= 0 } };
}

function rejoin(s: LifeState, reason: string): Decision {
  return {
    state: { ...s, phase: 'joining', broken: undefined, verdictDeadlineMs: undefined },
    action: { kind: 'rejoin', reason },
  };
}

/** Training stopped with an error: give up, re-join, or ask the coordinator what happened. */
function ringBroken(s: LifeState, error: Failure, nowMs: number): Decision {
  if (s.fatal !== undefined) return giveUp(s, { code: 'JOB_FAILED', message: s.fatal });
  if (!s.elastic || !RECOVERABLE.has(error.code)) return giveUp(s, error);
  if (s.regenerating !== undefined) return rejoin(s, s.regenerating);
  // A neighbour broke the collective: name both neighbours and wait for the verdict.
  return {
    state: { ...s, phase: 'awaiting-verdict', broken: error, verdictDeadlineMs: nowMs + s.verdictMs },
    action: { kind: 'report-broken', suspects: neighbours(s.rank, s.world), error },
  };
}

/** Heartbeat, pause, heartbeat... until the coordinator answers or the deadline passes. */
function awaitVerdict(s: LifeState, after: 'heartbeat-done' | 'paused', nowMs: number): Decision {
  if (s.phase !== 'awaiting-verdict') return { state: s, action: { kind: 'none' } };
  if (s.fatal !== undefined) return giveUp(s, { code: 'JOB_FAILED', message: s.fatal });
  if (s.regenerating !== undefined) return rejoin(s, s.regenerating);
  if (after === 'heartbeat-done') return { state: s, action: { kind: 'pause', ms: VERDICT_POLL_MS } };
  if (nowMs >= (s.verdictDeadlineMs ?? nowMs))
    return giveUp(s, s.broken ?? { code: 'TIMEOUT', message: 'no verdict from the coordinator' });
  return { state: s, action: { kind: 'heartbeat' } };
}

/** An error as the life cycle's failure: its code when it is ringtrain's, else INTERNAL. */
export function failureOf(e: unknown): Failure {
  return {
    code: isRingtrainError(e) ? e.code : 'INTERNAL',
    message: e instanceof Error ? e.message : String(e),
    cause: e,
  };
}
