/**
 * Turns the children's pino JSON lines into what a person at the terminal wants: the model
 * summary, one line per epoch, warnings and errors with the rank that wrote them. Everything
 * else stays in the per-process log files.
 */
/** A split's metrics in a log record; regression has mse (train) or mae and r2 (validation, test) instead of accuracy. */
interface SplitRecord {
  loss: number | null;
  accuracy: number | null;
  mse?: number | null;
  mae?: number | null;
  r2?: number | null;
}

export interface LogRecord {
  level?: number;
  msg?: string;
  event?: string;
  rank?: number;
  role?: string;
  lines?: string[];
  epoch?: number;
  epochs?: number;
  /** null where the worker had NaN (JSON has no NaN). */
  train?: SplitRecord;
  val?: SplitRecord;
  /** `final` records: the saved model on the test set, and whether restoreBest put back an earlier epoch. */
  test?: SplitRecord;
  restoredEpoch?: number;
  samplesPerSec?: number;
  seconds?: number;
  time?: { data: number; compute: number; communication: number; update: number; peerWait?: number };
  /** `progress` records (RunRecorder, throttled): position in the epoch and the running loss. */
  stepInEpoch?: number;
  stepsInEpoch?: number;
  step?: number;
  loss?: number;
  elapsedSec?: number;
  /** train.prune: the share of kernel weights that are 0 at the epoch's end. */
  sparsity?: number;
}

/** Rank 0's notes on how the job starts and prunes (fine-tune.ts, loop-extras.ts), shown as written. */
const NOTE_EVENTS: ReadonlySet<string> = new Set(['init-from', 'frozen', 'distill', 'pruned', 'pruning']);

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

/**
 * A number as text, or '-' when there is none: NaN travels through JSON as null (an epoch
 * resumed after a re-form at its very end trained no samples), and a log line must never crash
 * the launcher.
 */
const fixed = (x: number | null | undefined, digits: number): string =>
  typeof x === 'number' && Number.isFinite(x) ? x.toFixed(digits) : '-';
const pct = (x: number | null | undefined): string =>
  typeof x === 'number' && Number.isFinite(x) ? `${(100 * x).toFixed(2)}%` : '-';

/** Accuracy for classification; for regression (accuracy NaN) the mean absolute error and R^2, or the train MSE. */
export function quality(m: SplitRecord | undefined): string {
  if (m === undefined) return 'acc -';
  const hasAccuracy = typeof m.accuracy === 'number' && !Number.isNaN(m.accuracy);
  if (!hasAccuracy && typeof m.mae === 'number')
    return `mae ${fixed(m.mae, 4)}${typeof m.r2 === 'number' ? ` r2 ${fixed(m.r2, 4)}` : ''}`;
  if (!hasAccuracy && typeof m.mse === 'number') return `mse ${fixed(m.mse, 4)}`;
  return `acc ${pct(m.accuracy)}`;
}

interface TimeShares {
  data: number;
  compute: number;
  communication: number;
  update: number;
  /** Part of communication: waiting for a slower rank; undefined from workers that predate it. */
  peerWait?: number;
}

/** An epoch's step time as percentages of its total; undefined without timings. */
function timeShares(r: LogRecord | undefined): TimeShares | undefined {
  const t = r?.time;
  const total = t ? t.data + t.compute + t.communication + t.update : 0;
  if (t === undefined || !(total > 0)) return undefined;
  const share = (x: number): number => (100 * x) / total;
  const shares: TimeShares = {
    data: share(t.data),
    compute: share(t.compute),
    communication: share(t.communication),
    update: share(t.update),
  };
  // One worker has no neighbour to wait for: no peer-wait figure rather than a constant 0%.
  if (typeof t.peerWait === 'number' && t.peerWait > 0) shares.peerWait = share(Math.min(t.peerWait, t.communication));
  return shares;
}

export function formatEpoch(r: LogRecord): string {
  const p = timeShares(r);
  // Of the communication share, how much was waiting for a slower rank rather than exchanging.
  const wait = p?.peerWait !== undefined ? ` (peer wait ${p.peerWait.toFixed(0)}%)` : '';
  const split = p
    ? `  [data ${p.data.toFixed(0)}% compute ${p.compute.toFixed(0)}% comm ${p.communication.toFixed(0)}%${wait} update ${p.update.toFixed(0)}%]`
    : '';
  const width = String(r.epochs ?? '').length;
  return (
    `epoch ${String(r.epoch).padStart(width)}/${r.epochs}  ` +
    `train loss ${fixed(r.train?.loss, 4)} ${quality(r.train)}  ` +
    `val loss ${fixed(r.val?.loss, 4)} ${quality(r.val)}  ` +
    `${Math.round(r.samplesPerSec ?? 0).toLocaleString('en-US')} samples/s  ${fixed(r.seconds ?? 0, 1)} s${split}` +
    (typeof r.sparsity === 'number' ? `  sparsity ${(100 * r.sparsity).toFixed(1)}%` : '')
  );
}

/** The line to show for a record, or undefined when it belongs only in the log file. */
export function displayLine(name: string, r: LogRecord): string | undefined {
  if (r.event === 'epoch' && r.rank === 0) return formatEpoch(r);
  if (r.event === 'model-summary' && r.rank === 0 && Array.isArray(r.lines)) return r.lines.join('\n');
  // Which checkpoint a resumed run continues from is worth a line of its own.
  if (r.event === 'resumed' && r.rank === 0) return `${name}: ${r.msg ?? ''}`;
  // How training ended matters to the reader of the final line: early stopping and restoreBest say so.
  if ((r.event === 'early-stop' || r.event === 'restored-best') && r.rank === 0) return `ringtrain: ${r.msg ?? ''}`;
  if (r.event !== undefined && NOTE_EVENTS.has(r.event) && r.rank === 0 && r.msg !== undefined) return r.msg;
  if ((r.level ?? 0) >= WARN) return `${name}: ${(r.level ?? 0) >= 50 ? 'error: ' : 'warning: '}${r.msg ?? ''}`;
  return undefined;
}

/**
 * What the launcher's last line says of the model: the saved model's test metrics (the figure
 * `ringtrain eval` reproduces) from the worker's `final` record, else the last epoch's validation.
 */
export function finalQuality(finalRec: LogRecord | undefined, lastEpoch: LogRecord | undefined): string {
  if (finalRec?.test !== undefined) {
    const restored =
      (finalRec.restoredEpoch ?? 0) > 0 ? ` (weights of epoch ${finalRec.restoredEpoch}, restored as the best)` : '';
    return ` test ${quality(finalRec.test).replace(/^acc /, 'accuracy ')} of the saved model${restored},`;
  }
  const v = lastEpoch?.val;
  return v === undefined ? '' : ` val ${quality(v).replace(/^acc /, 'accuracy ')},`;
}

/** "1:05", "12:00:03": ETA as a clock reads, never "65 s". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** Seconds left in the epoch, from its pace so far. */
export function epochEta(r: LogRecord): number {
  const done = r.stepInEpoch ?? 0;
  const total = r.stepsInEpoch ?? 0;
  return done > 0 && r.elapsedSec !== undefined ? (r.elapsedSec / done) * (total - done) : NaN;
}

function progressFigures(r: LogRecord): string {
  const width = String(r.stepsInEpoch ?? '').length;
  return (
    `${String(r.stepInEpoch ?? 0).padStart(width)}/${r.stepsInEpoch ?? '?'}  ` +
    `${Math.round(r.samplesPerSec ?? 0).toLocaleString('en-US')} samples/s  loss ${(r.loss ?? NaN).toFixed(4)}  ETA ${formatDuration(epochEta(r))}`
  );
}

/** A progress bar line that fits in `columns` (a terminal's width). */
export function formatProgressBar(r: LogRecord, columns = 100): string {
  const head = `epoch ${String(r.epoch).padStart(String(r.epochs ?? '').length)}/${r.epochs} `;
  const tail = ` ${progressFigures(r)}`;
  const barWidth = Math.max(10, Math.min(40, columns - 1 - head.length - tail.length - 2));
  const frac = Math.max(0, Math.min(1, (r.stepInEpoch ?? 0) / Math.max(1, r.stepsInEpoch ?? 1)));
  const filled = Math.round(frac * barWidth);
  const bar =
    '='.repeat(Math.max(0, filled - 1)) +
    (filled > 0 ? (filled === barWidth ? '=' : '>') : '') +
    ' '.repeat(barWidth - filled);
  return `${head}[${bar}]${tail}`.slice(0, Math.max(20, columns - 1));
}

/** The same facts as a plain line, for logs. */
export function formatProgressPlain(r: LogRecord): string {
  return `epoch ${r.epoch}/${r.epochs}  step ${progressFigures(r)}`;
}

export interface Terminal {
  write(text: string): void;
  /** Live redrawing only on a terminal; anything else (a pipe, CI, a file) gets plain lines. */
  isTTY: boolean;
  columns?: number;
}

/** How often a non-terminal gets a plain progress line: a CI log shows life, not noise. */
export const PLAIN_PROGRESS_INTERVAL_MS = 30_000;
const CLEAR_LINE = '\r\u001b[2K';

/**
 * What people see while a job runs. On a terminal, one live progress bar redrawn in place
 * (carriage return + erase line) under the permanent lines; elsewhere, permanent lines only,
 * with no escape codes, and a plain progress line at most every PLAIN_PROGRESS_INTERVAL_MS.
 */
export class ProgressDisplay {
  private bar = '';
  private lastPlainMs = -Infinity;

  constructor(
    private readonly out: Terminal,
    private readonly clock: () => number = Date.now,
  ) {}

  /** A permanent line (epoch summary, warning, final verdict). */
  line(text: string): void {
    if (this.out.isTTY && this.bar !== '') {
      this.out.write(`${CLEAR_LINE}${text}\n${this.bar}`);
      return;
    }
    this.out.write(`${text}\n`);
  }

  /** A `progress` record from rank 0. */
  progress(r: LogRecord): void {
    if (this.out.isTTY) {
      this.bar = formatProgressBar(r, this.out.columns ?? 100);
      this.out.write(`${CLEAR_LINE}${this.bar}`);
      return;
    }
    const now = this.clock();
    if (now - this.lastPlainMs < PLAIN_PROGRESS_INTERVAL_MS) return;
    // The first progress line of a run is not printed: epoch lines come soon enough.
    if (this.lastPlainMs === -Infinity) {
      this.lastPlainMs = now;
      return;
    }
    this.lastPlainMs = now;
    this.out.write(`${formatProgressPlain(r)}\n`);
  }

  /** The epoch's summary replaces its bar. */
  epochDone(summary: string): void {
    if (this.out.isTTY && this.bar !== '') this.out.write(CLEAR_LINE);
    this.bar = '';
    this.out.write(`${summary}\n`);
  }

  /** Removes a live bar (the run ended or failed mid-epoch). */
  clear(): void {
    if (this.out.isTTY && this.bar !== '') this.out.write(CLEAR_LINE);
    this.bar = '';
  }
}

/**
 * More workers than CPUs: the line that says so when a launch starts. Each worker keeps at
 * least one core busy (the wasm backend runs one compute thread), so extra workers share cores,
 * and a synchronous step waits for whichever is descheduled; undefined when every worker has one.
 */
export function oversubscriptionNote(nproc: number, cpus: number): string | undefined {
  if (cpus <= 0 || nproc <= cpus) return undefined;
  return `ringtrain: note: ${nproc} workers on ${cpus} CPU${cpus === 1 ? '' : 's'} this process may use: workers will share cores and every step waits for the slowest (shared-memory polling is off); --nproc ${cpus} is likely faster`;
}

/** A communication share (percent) from which a gRPC launch earns the tcp tip. */
const TCP_TIP_PERCENT = 25;

/**
 * After a launch of 3 or more workers on the gRPC transport whose last epoch spent a large
 * share of its steps in communication: the tip to try tcp. `launch` puts every worker on one
 * host, where the tcp transport passes payloads between ring neighbours through shared memory.
 * Two workers sum through one shared file on either transport, so they get no tip. undefined =
 * no tip.
 */
export function transportTip(transport: string, nproc: number, last: LogRecord | undefined): string | undefined {
  const comm = timeShares(last)?.communication;
  if (transport !== 'grpc' || nproc < 3 || comm === undefined || comm < TCP_TIP_PERCENT) return undefined;
  return `ringtrain: tip: communication took ${comm.toFixed(0)}% of the last epoch's steps; all workers share this host, where the tcp transport passes payloads between neighbours through shared memory: --set cluster.transport=tcp`;
}
