/**
 * pino logger factory. Every line is one JSON object bound to {job, role, rank}; the worker adds
 * {generation} (a child logger) when a ring forms, so a line can always be placed in one ring of
 * one job without reading its neighbours.
 */
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger, DestinationStream };

export type LogRole = 'coordinator' | 'worker' | 'launcher';

/** Used when the caller names no level (the job spec is where people set it). */
export const DEFAULT_LOG_LEVEL = 'info';

export interface LoggerOptions {
  /** Job name, on every line. */
  job: string;
  /** Which process wrote the line. */
  role: LogRole;
  /** Worker rank; omitted for the coordinator and the launcher. */
  rank?: number;
  /** pino level name (trace|debug|info|warn|error|fatal|silent). */
  level?: string;
  /** Where lines go; defaults to stderr. Tests pass an in-memory stream. */
  destination?: DestinationStream;
}

export function createLogger(opts: LoggerOptions): Logger {
  const base: Record<string, string | number> = { job: opts.job, role: opts.role };
  if (opts.rank !== undefined) base.rank = opts.rank;
  // Synchronous writes to fd 2: a worker that crashes (or is killed by the launcher right after
  // logging why) must not lose its last line to an unflushed async buffer. Logging volume here
  // is a few lines per step at most, so the cost of sync writes does not matter.
  const destination = opts.destination ?? stderrDestination();
  return pino(
    {
      level: opts.level ?? DEFAULT_LOG_LEVEL,
      base,
      // ISO time reads in `kubectl logs` without a converter; epoch ms is pino's default.
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}

/**
 * fd 2, written synchronously. A log file on a full disk costs lines, not the process: without a
 * listener, the failed write would be an unhandled 'error' event. Why a job failed still travels
 * to the coordinator (gRPC) and the launcher (IPC).
 */
function stderrDestination(): DestinationStream {
  const d = pino.destination({ fd: 2, sync: true });
  d.on('error', () => undefined);
  return d;
}
