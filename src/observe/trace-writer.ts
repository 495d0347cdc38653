/**
 * Chrome trace (the Trace Event Format that chrome://tracing and Perfetto open), like Horovod's
 * timeline: one complete event ("ph": "X") per phase of each step on the rank's "steps" track,
 * and V8's garbage-collection pauses on a "V8 GC" track beside it. Times are wall-clock
 * microseconds, so the files of several ranks merge into one timeline (trace-merge.ts) that
 * shows who waited for whom: exact on one host, as good as the clock sync across hosts.
 * Events are appended as they happen in the JSON-array form, which the viewers accept even when
 * the closing bracket is missing, so a crashed run still leaves a readable trace.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PerformanceObserver, performance, type PerformanceEntry } from 'node:perf_hooks';
import { DIRECTORY_USES, makeDirectory } from '../core';

export interface TraceEvent {
  name: string;
  /** Category shown in the viewer, e.g. "step". */
  cat: string;
  /** Start, wall-clock microseconds (TraceWriter.now()). */
  ts: number;
  /** Duration in microseconds. */
  dur: number;
  args?: Record<string, number | string>;
  /** Track within the rank: STEPS_TRACK (default) or GC_TRACK. */
  tid?: number;
}

export const STEPS_TRACK = 0;
export const GC_TRACK = 1;
/** All-reduces in flight while the step computes on (the backward pass overlapped with them). */
export const WIRE_TRACK = 2;

/** perf_hooks' NODE_PERFORMANCE_GC_* kinds. */
const GC_KINDS: Record<number, string> = {
  1: 'minor GC',
  2: 'major GC',
  4: 'incremental marking',
  8: 'weak callbacks',
};

/** Wall-clock microseconds of a performance.now() reading. */
const wallMicros = (perfMs: number): number => (performance.timeOrigin + perfMs) * 1000;

export class TraceWriter {
  private readonly fd: number;
  private first = true;
  private closed = false;
  private gc: PerformanceObserver | undefined;
  /** The wire track is named at its first event: most runs never overlap. */
  private wireNamed = false;

  constructor(
    readonly file: string,
    private readonly rank: number,
  ) {
    makeDirectory(path.dirname(path.resolve(file)), DIRECTORY_USES.trace);
    this.fd = fs.openSync(file, 'w');
    fs.writeSync(this.fd, '[\n');
    this.write({ name: 'process_name', ph: 'M', pid: rank, tid: 0, args: { name: `rank ${rank}` } });
    this.write({ name: 'process_sort_index', ph: 'M', pid: rank, tid: 0, args: { sort_index: rank } });
    this.write({ name: 'thread_name', ph: 'M', pid: rank, tid: STEPS_TRACK, args: { name: 'steps' } });
  }

  /** Now, in wall-clock microseconds, for `ts`. */
  now(): number {
    return wallMicros(performance.now());
  }

  /** A performance.now() reading (ms) as wall-clock microseconds, for `ts`. */
  wallTime(perfMs: number): number {
    return wallMicros(perfMs);
  }

  event(e: TraceEvent): void {
    const { tid, ...rest } = e;
    if (tid === WIRE_TRACK && !this.wireNamed) {
      this.wireNamed = true;
      this.write({
        name: 'thread_name',
        ph: 'M',
        pid: this.rank,
        tid: WIRE_TRACK,
        args: { name: 'gradients on the wire' },
      });
    }
    this.write({ ...rest, ph: 'X', pid: this.rank, tid: tid ?? STEPS_TRACK });
  }

  /**
   * Records every garbage-collection pause from now on: in Node a pause stops the rank, and in
   * synchronous data parallelism every other rank then waits for it at the next all-reduce.
   */
  traceGc(): void {
    if (this.gc !== undefined) return;
    this.write({ name: 'thread_name', ph: 'M', pid: this.rank, tid: GC_TRACK, args: { name: 'V8 GC' } });
    this.gc = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        // Node puts the GC kind in `detail`, which these typings do not declare.
        const kind = (e as PerformanceEntry & { detail?: { kind?: number } | null }).detail?.kind ?? 0;
        this.event({
          name: GC_KINDS[kind] ?? 'GC',
          cat: 'gc',
          ts: wallMicros(e.startTime),
          dur: e.duration * 1000,
          tid: GC_TRACK,
        });
      }
    });
    this.gc.observe({ entryTypes: ['gc'] });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.gc?.disconnect();
    fs.writeSync(this.fd, '\n]\n');
    fs.closeSync(this.fd);
  }

  private write(obj: object): void {
    if (this.closed) return;
    fs.writeSync(this.fd, `${this.first ? '' : ',\n'}${JSON.stringify(obj)}`);
    this.first = false;
  }
}
