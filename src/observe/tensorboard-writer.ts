/**
 * Writes TensorBoard event files: `tensorboard --logdir runs` shows ringtrain's scalars and
 * histograms next to those of any other framework. One writer owns one file, named as
 * TensorFlow names them (TensorBoard looks for "tfevents" in the name); records are buffered and
 * appended in batches, and flushed at least every `flushIntervalMs` (checked on each write, no
 * timer) and on flush()/close(). Per-step scalars are kept as numbers and encoded at the flush, in
 * one warm loop: encoded one by one between training steps, whose kernels had evicted the
 * encoder's code and data, each took tens of microseconds of rank 0's step while its peers waited.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeFailed } from '../core';
import {
  ScalarEventEncoder,
  encodeFileVersionEvent,
  encodeSummaryEvent,
  type HistogramData,
} from './tensorboard-proto';
import { frameRecord } from './tensorboard-records';

/** Pending bytes that force a flush. */
export const FLUSH_BYTES = 64 * 1024;
/** Bytes a deferred scalar event is counted as toward FLUSH_BYTES (four tags frame to about 150). */
const DEFERRED_EVENT_BYTES = 160;
/** Longest time a written record may wait in memory (TensorFlow's default is 120 s; ours is live). */
export const FLUSH_INTERVAL_MS = 2_000;

export interface EventFileWriterOptions {
  /** Seconds since the epoch as a float; injected by tests. */
  clock?: () => number;
  flushIntervalMs?: number;
  /** Suffix after the hostname; keeps files of two writers in one directory apart. */
  suffix?: string;
}

export class EventFileWriter {
  readonly file: string;
  private fd: number | undefined;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private lastFlushMs: number;
  private readonly clock: () => number;
  private readonly flushIntervalMs: number;
  private readonly scalarEvents = new ScalarEventEncoder();
  /** scalars() calls not yet encoded, in call order; encoded before any other record is added. */
  private deferred: { wallTime: number; step: number; values: Record<string, number> }[] = [];

  constructor(dir: string, opts: EventFileWriterOptions = {}) {
    this.clock = opts.clock ?? (() => Date.now() / 1000);
    this.flushIntervalMs = opts.flushIntervalMs ?? FLUSH_INTERVAL_MS;
    const now = this.clock();
    const name = `events.out.tfevents.${Math.floor(now)}.${os.hostname()}.${process.pid}${opts.suffix ? `.${opts.suffix}` : ''}`;
    this.file = path.join(dir, name);
    this.lastFlushMs = now * 1000;
    try {
      fs.mkdirSync(dir, { recursive: true });
      this.fd = fs.openSync(this.file, 'a');
    } catch {
      // No room for the file (a full disk): the events are dropped; training does not depend on them.
      return;
    }
    const version = encodeFileVersionEvent(now);
    this.append(version);
    try {
      this.flush();
    } catch {
      // A full disk: the version event leads the next flush that fits.
      this.append(version);
    }
  }

  /** One scalar at a global step. */
  scalar(tag: string, value: number, step: number): void {
    this.append(encodeSummaryEvent(this.clock(), step, [{ tag, kind: 'scalar', value }]));
  }

  /** Several scalars at one step, in one event (as a Keras callback writes them). */
  scalars(step: number, values: Record<string, number>): void {
    if (this.fd === undefined || Object.keys(values).length === 0) return;
    this.deferred.push({ wallTime: this.clock(), step, values: { ...values } });
    // About what an event of a few tags frames to; the byte limit stays a bound on memory.
    const bytes = this.pendingBytes + this.deferred.length * DEFERRED_EVENT_BYTES;
    if (bytes >= FLUSH_BYTES || this.clock() * 1000 - this.lastFlushMs >= this.flushIntervalMs) this.flush();
  }

  histogram(tag: string, histogram: HistogramData, step: number): void {
    this.append(encodeSummaryEvent(this.clock(), step, [{ tag, kind: 'histogram', histogram }]));
  }

  /** An already encoded Event (tensorboard-hparams.ts builds the HParams ones). */
  event(encoded: Uint8Array): void {
    this.append(encoded);
  }

  flush(): void {
    this.encodeDeferred();
    if (this.fd === undefined || this.pending.length === 0) return;
    const data = Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    const size = fs.fstatSync(this.fd).size;
    try {
      fs.writeSync(this.fd, data);
    } catch (e) {
      // A record cut short would break every reader of the file: take the partial write back.
      try {
        fs.ftruncateSync(this.fd, size);
      } catch {
        // Nothing more to do; the error below names the file.
      }
      throw writeFailed(this.file, e);
    }
    this.lastFlushMs = this.clock() * 1000;
  }

  /** Flushes and closes the file; later writes are dropped. Safe to call twice. */
  close(): void {
    if (this.fd === undefined) return;
    this.flush();
    fs.closeSync(this.fd);
    this.fd = undefined;
  }

  private encodeDeferred(): void {
    const events = this.deferred;
    if (events.length === 0) return;
    this.deferred = [];
    for (const e of events) this.pushRecord(this.scalarEvents.encode(e.wallTime, e.step, e.values));
  }

  private append(event: Uint8Array): void {
    if (this.fd === undefined) return;
    this.encodeDeferred();
    this.pushRecord(event);
    if (this.pendingBytes >= FLUSH_BYTES || this.clock() * 1000 - this.lastFlushMs >= this.flushIntervalMs)
      this.flush();
  }

  private pushRecord(event: Uint8Array): void {
    const rec = frameRecord(event);
    this.pending.push(rec);
    this.pendingBytes += rec.length;
  }
}
