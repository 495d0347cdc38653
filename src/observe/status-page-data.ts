/**
 * What the coordinator's status page shows, as plain data: the step-level progress points rank 0
 * sends, each worker's recent step-time breakdown, and the snapshot the page polls
 * (`/status.json`). Pure functions only (bounded history, per-step means), so the coordinator
 * stays a thin holder of state and the tests need no server.
 */

/** One point of the live curves, as rank 0 measured it. */
export interface StepPoint {
  step: number;
  epoch: number;
  /** Loss of rank 0's last batch. */
  loss: number;
  /** Running accuracy of rank 0's batches in this epoch (NaN when unknown). */
  accuracy: number;
  /** Global samples/s over the last few steps (all ranks). */
  samplesPerSec: number;
  lr: number;
  /** Seconds since the Unix epoch. */
  wallTime: number;
}

/** A worker's time split over its last reporting window (seconds, summed over `steps` steps). */
export interface StepTiming {
  steps: number;
  dataSec: number;
  computeSec: number;
  communicationSec: number;
  updateSec: number;
  /** Part of communicationSec spent waiting for a slower rank; 0 from workers that predate it. */
  peerWaitSec: number;
}

export interface EpochPoint {
  epoch: number;
  split: string;
  loss: number;
  accuracy: number;
  samplesPerSec: number;
}

export interface WorkerRow {
  rank: number;
  workerId: string;
  address: string;
  metricsUrl: string;
  /** Seconds since the last heartbeat; -1 before the first. */
  lastHeartbeatAgeSec: number;
  step: number;
  epoch: number;
  /** Mean milliseconds per step over the last window, by phase; absent before the first report. */
  msPerStep?: { data: number; compute: number; communication: number; update: number; peerWait: number };
  /** The coordinator's straggler verdict (coordinator/stragglers.ts, fed by heartbeats). */
  straggler: boolean;
}

export interface StatusSnapshot {
  job: string;
  state: 'rendezvous' | 'running' | 'done' | 'failed';
  reason: string;
  generation: number;
  worldSize: number;
  /** Milliseconds since the Unix epoch. */
  startedAtMs: number;
  nowMs: number;
  step: number;
  samples: number;
  workers: WorkerRow[];
  points: StepPoint[];
  epochs: EpochPoint[];
}

/** Points kept for the live curves; older ones are thinned, never the recent ones. */
export const MAX_POINTS = 2000;
export function msPerStep(t: StepTiming): WorkerRow['msPerStep'] {
  const per = (s: number): number => (t.steps > 0 ? (1000 * s) / t.steps : 0);
  return {
    data: per(t.dataSec),
    compute: per(t.computeSec),
    communication: per(t.communicationSec),
    update: per(t.updateSec),
    peerWait: per(t.peerWaitSec),
  };
}

/**
 * Appends points, keeping at most `max`: when full, every other point of the older half is
 * dropped, so a long run keeps its whole shape at a coarser grain and the recent steps in full.
 */
export function appendBounded(history: StepPoint[], points: readonly StepPoint[], max = MAX_POINTS): void {
  for (const p of points) {
    const last = history[history.length - 1];
    // A resent batch (a retried report) must not draw the curve backwards.
    if (last !== undefined && p.step <= last.step) continue;
    history.push(p);
    if (history.length > max) {
      const half = Math.floor(history.length / 2);
      const older = history.slice(0, half).filter((_, i) => i % 2 === 0);
      history.splice(0, half, ...older);
    }
  }
}
