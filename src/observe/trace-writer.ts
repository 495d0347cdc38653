/**
 * Chrome trace (the Trace Event Format that chrome://tracing and Perfetto open), like Horovod's
 * timeline: one complete event ("ph": "X") per phase of each step, on the rank's own track.
 * Events are appended as they happen in the JSON-array form, which the viewers accept even when
 * the closing bracket is missing, so a crashed run still leaves a readable trace.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface TraceEvent {
  name: string;
  /** Category shown in the viewer, e.g. "step". */
  cat: string;
  /** Start, microseconds since the tracer started. */
  ts: number;
  /** Duration in microseconds. */
  dur: number;
  args?: Record<string, number | string>;
}

export class TraceWriter {
  private readonly fd: number;
  private readonly origin = process.hrtime.bigint();
  private first = true;
  private closed = false;

  constructor(readonly file: string, private readonly rank: number) {
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    this.fd = fs.openSync(file, 'w');
    fs.writeSync(this.fd, '[\n');
    this.write({ name: 'process_name', ph: 'M', pid: rank, tid: 0, args: { name: `rank ${rank}` } });
  }

  /** Microseconds since the tracer started, for `ts`. */
  now(): number {
    return Number(process.hrtime.bigint() - this.origin) / 1000;
  }

  event(e: TraceEvent): void {
    this.write({ ...e, ph: 'X', pid: this.rank, tid: 0 });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    fs.writeSync(this.fd, '\n]\n');
    fs.closeSync(this.fd);
  }

  private write(obj: object): void {
    if (this.closed) return;
    fs.writeSync(this.fd, `${this.first ? '' : ',\n'}${JSON.stringify(obj)}`);
    this.first = false;
  }
}
