/**
 * Rendezvous as pure decisions, in the manner of torch.distributed.elastic: the state is the set
 * of members that have asked to join plus a deadline; `decideRendezvous(state, now)` says whether
 * to keep waiting, form the ring, or give up. The service only executes the verdicts, so tests
 * set a state, pick a clock value and assert one action, with no sleeps.
 *
 * Ranks are deterministic: when every member brings a distinct rank hint in [0, N) (RANK from the
 * launcher, JOB_COMPLETION_INDEX on Kubernetes) the hints are honoured, so "rank 1" in a log is
 * the process the launcher calls rank 1; otherwise ranks follow the sorted worker ids.
 */

export interface Member {
  workerId: string;
  /** host:port of the member's Collective service. */
  address: string;
  /** Requested rank, or -1. */
  rankHint: number;
  configHash: string;
  metricsUrl: string;
  /** Parameter count and shape hash of the model the worker built ('' = not sent). */
  modelFingerprint?: string;
  joinedAtMs: number;
}

export interface Peer {
  rank: number;
  workerId: string;
  address: string;
}

export interface RendezvousState {
  /** The most workers a ring takes (cluster.maxWorkers; the world size of a fixed-size job). */
  worldSize: number;
  members: Member[];
  deadlineMs: number;
  /** Fewest workers a ring may form with (elastic jobs); absent = worldSize. */
  minWorkers?: number;
  /** Once minWorkers are in, how long to wait for more before forming (torch elastic's last call). */
  lastCallMs?: number;
  /** When the member count first reached minWorkers. */
  minReachedAtMs?: number;
}

export type RendezvousAction =
  { kind: 'wait'; untilMs: number } | { kind: 'form'; ring: Peer[] } | { kind: 'timeout'; message: string };

export type Admission = { ok: true } | { ok: false; reason: string };

export function decideRendezvous(state: RendezvousState, nowMs: number): RendezvousAction {
  const n = state.members.length;
  if (n >= state.worldSize) return { kind: 'form', ring: assignRanks(state.members, state.worldSize) };
  const min = state.minWorkers ?? state.worldSize;
  if (n >= min && state.minReachedAtMs !== undefined) {
    const lastCall = state.minReachedAtMs + (state.lastCallMs ?? 0);
    if (nowMs >= lastCall) return { kind: 'form', ring: assignRanks(state.members, state.worldSize) };
    return { kind: 'wait', untilMs: Math.min(lastCall, state.deadlineMs) };
  }
  if (nowMs >= state.deadlineMs) return { kind: 'timeout', message: describeShortfall(state) };
  return { kind: 'wait', untilMs: state.deadlineMs };
}

export function assignRanks(members: Member[], worldSize: number): Peer[] {
  const chosen = members.slice(0, worldSize);
  const hints = chosen.map((m) => m.rankHint);
  const hinted = hints.every((h) => h >= 0 && h < worldSize) && new Set(hints).size === chosen.length;
  const ordered = hinted
    ? [...chosen].sort((a, b) => a.rankHint - b.rankHint)
    : [...chosen].sort((a, b) => (a.workerId < b.workerId ? -1 : a.workerId > b.workerId ? 1 : 0));
  return ordered.map((m, rank) => ({ rank, workerId: m.workerId, address: m.address }));
}

/** Whether a new join request may enter the rendezvous; a refusal says why and what to do. */
export function admit(state: RendezvousState, candidate: Member, expectedConfigHash: string): Admission {
  if (candidate.configHash !== expectedConfigHash) {
    return {
      ok: false,
      reason:
        `worker ${candidate.workerId} runs a different job config (hash ${candidate.configHash.slice(0, 12)}, ` +
        `coordinator has ${expectedConfigHash.slice(0, 12)}): start every worker with the same job file and --set options`,
    };
  }
  const others = state.members.filter((m) => m.workerId !== candidate.workerId);
  if (candidate.rankHint >= state.worldSize) {
    return {
      ok: false,
      reason: `worker ${candidate.workerId} asks for rank ${candidate.rankHint}, but the world size is ${state.worldSize}`,
    };
  }
  const clash = candidate.rankHint >= 0 ? others.find((m) => m.rankHint === candidate.rankHint) : undefined;
  if (clash !== undefined) {
    return {
      ok: false,
      reason: `rank ${candidate.rankHint} is already taken by worker ${clash.workerId} at ${clash.address}: each worker needs its own RANK`,
    };
  }
  if (others.length >= state.worldSize) {
    return {
      ok: false,
      reason: `the ring already has ${state.worldSize} workers; this job takes no more (cluster.worldSize = ${state.worldSize})`,
    };
  }
  return { ok: true };
}

/** "1 of 3 workers joined (w-a at 127.0.0.1:5000 as rank 0); missing: ranks 1, 2". */
export function describeShortfall(state: RendezvousState): string {
  const joined = state.members
    .map((m) => `${m.workerId} at ${m.address}${m.rankHint >= 0 ? ` as rank ${m.rankHint}` : ''}`)
    .join(', ');
  const hinted = state.members.filter((m) => m.rankHint >= 0).map((m) => m.rankHint);
  const missingCount = state.worldSize - state.members.length;
  let missing = `${missingCount} more worker${missingCount === 1 ? '' : 's'}`;
  if (hinted.length === state.members.length) {
    const ranks = Array.from({ length: state.worldSize }, (_, r) => r).filter((r) => !hinted.includes(r));
    missing = `rank${ranks.length === 1 ? '' : 's'} ${ranks.join(', ')}`;
  }
  return `${state.members.length} of ${state.worldSize} workers joined (${joined || 'none'}); missing: ${missing}`;
}
