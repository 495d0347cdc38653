/**
 * Turns the children's pino JSON lines into what a person at the terminal wants: the model
 * summary, one line per epoch, warnings and errors with the rank that wrote them. Everything
 * else stays in the per-process log files.
 */
export interface LogRecord {
  level?: number;
  msg?: string;
  event?: string;
  rank?: number;
  role?: string;
  lines?: string[];
  epoch?: number;
  epochs?: number;
  train?: { loss: number; accuracy: number };
  val?: { loss: number; accuracy: number };
  samplesPerSec?: number;
  seconds?: number;
  time?: { data: number; compute: number; communication: number; update: number };
}

/** pino levels: 40 warn, 50 error, 60 fatal. */
const WARN = 40;

export function parseRecord(line: string): LogRecord | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const v: unknown = JSON.parse(line);
    return typeof v === 'object' && v !== null ? (v as LogRecord) : undefined;
  } catch {
    return undefined;
  }
}

const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;

export function formatEpoch(r: LogRecord): string {
  const t = r.time;
  const total = t ? t.data + t.compute + t.communication + t.update : 0;
  const split = t && total > 0
    ? `  [data ${(100 * t.data / total).toFixed(0)}% compute ${(100 * t.compute / total).toFixed(0)}% comm ${(100 * t.communication / total).toFixed(0)}% update ${(100 * t.update / total).toFixed(0)}%]`
    : '';
  const width = String(r.epochs ?? '').length;
  return (
    `epoch ${String(r.epoch).padStart(width)}/${r.epochs}  ` +
    `train loss ${r.train?.loss.toFixed(4)} acc ${pct(r.train?.accuracy ?? NaN)}  ` +
    `val loss ${r.val?.loss.toFixed(4)} acc ${pct(r.val?.accuracy ?? NaN)}  ` +
    `${Math.round(r.samplesPerSec ?? 0).toLocaleString('en-US')} samples/s  ${(r.seconds ?? 0).toFixed(1)} s${split}`
  );
}

/** The line to show for a record, or undefined when it belongs only in the log file. */
export function displayLine(name: string, r: LogRecord): string | undefined {
  if (r.event === 'epoch' && r.rank === 0) return formatEpoch(r);
  if (r.event === 'model-summary' && r.rank === 0 && Array.isArray(r.lines)) return r.lines.join('\n');
  if ((r.level ?? 0) >= WARN) return `${name}: ${(r.level ?? 0) >= 50 ? 'error: ' : 'warning: '}${r.msg ?? ''}`;
  return undefined;
}
