/**
 * The worker's one clock: the training loop times its steps with it and the life cycle measures
 * its deadlines with it, so tests can freeze or step time instead of sleeping.
 */
import { performance } from 'node:perf_hooks';

export interface Clock {
  /** Monotonic nanoseconds (process.hrtime.bigint()'s scale). */
  ns(): bigint;
  /** Monotonic milliseconds on performance.now()'s scale (traces turn them into wall time). */
  ms(): number;
  /** Resolves after `ms` milliseconds. */
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  ns: () => process.hrtime.bigint(),
  ms: () => performance.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

/** Seconds from `from` (a clock.ns() reading) until now. */
export function secondsSince(clock: Clock, from: bigint): number {
  return Number(clock.ns() - from) / 1e9;
}
