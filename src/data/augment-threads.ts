/**
 * Augmentation off the training thread. The training thread gathers a batch's rows into one of
 * a few shared slots (a copy, cheap) and hands the slot to a worker thread, which crops, flips
 * and rotates it while the step trains; the step then copies the finished rows out. Batches are
 * handed out several steps ahead, so by the time the loop asks for one it is normally done and
 * the wait costs nothing. The threads run augment.ts's rowAugmenter with randomness keyed on
 * (seed, epoch, sample), so the batches are bit for bit those of inline augmentation.
 *
 * Waiting is a synchronous Atomics.wait with a deadline: the loop's batch API stays synchronous
 * and a thread that never answers becomes an error that names it, not a hang.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { RingtrainError } from '../core';
import type { AugmentSpec } from '../config';
import { gatherBatch, type Batch, type RowSource } from './batches';
import type { AugmentJob, AugmentThreadData } from './augment-thread';
import type { ImageShape } from './augment';
import type { EpochBatches } from './prefetch';

/**
 * How long the training thread waits for one batch (it takes milliseconds) before it calls the
 * thread dead: well inside a heartbeat lease, as the wait blocks the event loop.
 */
export const AUGMENT_WAIT_MS = 10_000;

export interface AugmentThreadsOptions {
  spec: AugmentSpec;
  shape: ImageShape;
  fill: number;
  seed: number;
  threads: number;
  batchSize: number;
  waitMs?: number;
}

interface Slot {
  /** Full-size buffers: x lives in shared memory, y and t are the training thread's own. */
  x: Float32Array;
  y: Int32Array;
  t?: Float32Array;
  /** The gathered batch (views of the buffers' first rows for a short batch). */
  batch: Batch;
  /** The ticket of the job in flight here, 0 when none. */
  ticket: number;
  /** Which batch of the current epoch the slot holds. */
  b: number;
}

export class AugmentThreads {
  private readonly workers: { worker: Worker; port: MessagePort }[] = [];
  private readonly slots: Slot[] = [];
  private readonly status: Int32Array;
  private readonly sharedX: SharedArrayBuffer;
  private readonly slotFloats: number;
  private nextTicket = 1;
  private closed = false;

  constructor(private readonly o: AugmentThreadsOptions) {
    const file = path.join(__dirname, 'augment-thread.js');
    if (!existsSync(file))
      throw new RingtrainError(
        'JOB_FAILED',
        `the augmentation thread's script ${file} is missing: rebuild (npx tsc -p tsconfig.json), or set ` +
          `data.augment.threads to 0`,
      );
    const features = o.shape[0] * o.shape[1] * o.shape[2];
    this.slotFloats = o.batchSize * features;
    // Enough slots for every thread to hold two batches ahead, plus the two the loop may hold.
    const count = 2 * o.threads + 2;
    this.sharedX = new SharedArrayBuffer(count * this.slotFloats * 4);
    this.status = new Int32Array(new SharedArrayBuffer(count * 4));
    for (let s = 0; s < count; s++) {
      const x = new Float32Array(this.sharedX, s * this.slotFloats * 4, this.slotFloats);
      const y = new Int32Array(o.batchSize);
      this.slots.push({ x, y, batch: { x, y }, ticket: 0, b: -1 });
    }
    for (let t = 0; t < o.threads; t++) {
      const { port1, port2 } = new MessageChannel();
      const data: AugmentThreadData = {
        spec: o.spec,
        shape: o.shape,
        fill: o.fill,
        seed: o.seed,
        slots: this.sharedX,
        slotFloats: this.slotFloats,
        status: this.status.buffer as SharedArrayBuffer,
        port: port2,
      };
      const worker = new Worker(file, { workerData: data, transferList: [port2] });
      // Neither keeps the process alive: a finished or failed job exits without closing them.
      worker.unref();
      port1.unref();
      this.workers.push({ worker, port: port1 });
    }
  }

  /** The batches of one epoch; the previous epoch's pipeline must not be used any more. */
  pipeline(source: RowSource, batches: Int32Array[], batchSize: number, epoch: number): EpochBatches {
    if (this.closed) throw new RingtrainError('JOB_FAILED', 'augmentation threads used after close');
    this.drain();
    return new ThreadedBatches(this, source, batches, batchSize, epoch);
  }

  get slotCount(): number {
    return this.slots.length;
  }

  /** Gathers batch `b` (rows `idx`) into its slot and hands it to the slot's thread. */
  schedule(source: RowSource, b: number, idx: Int32Array, epoch: number): void {
    const s = b % this.slots.length;
    const slot = this.slots[s] as Slot;
    if (slot.ticket !== 0) this.wait(s, slot.ticket, epoch);
    if (source.targets !== undefined && slot.t === undefined)
      slot.t = new Float32Array(this.o.batchSize * (source.classes ?? 1));
    slot.batch = gatherBatch(source, idx, { x: slot.x, y: slot.y, t: slot.t });
    slot.b = b;
    slot.ticket = this.nextTicket;
    this.nextTicket = this.nextTicket >= 0x7ffffffe ? 1 : this.nextTicket + 1;
    Atomics.store(this.status, s, 0);
    const job: AugmentJob = { slot: s, ticket: slot.ticket, epoch, idx: idx.slice() };
    (this.workers[s % this.workers.length] as { port: MessagePort }).port.postMessage(job);
  }

  /** Batch `b`'s slot once its thread is done with it (the slot stays valid until rescheduled). */
  finished(b: number, epoch: number): Batch | undefined {
    const s = b % this.slots.length;
    const slot = this.slots[s] as Slot;
    if (slot.b !== b) return undefined;
    if (slot.ticket !== 0) this.wait(s, slot.ticket, epoch);
    return slot.batch;
  }

  /** Waits out every job in flight (a new epoch's, or a jump in the batch order, reuses the slots). */
  drain(): void {
    this.slots.forEach((slot, s) => {
      if (slot.ticket !== 0) this.wait(s, slot.ticket, -1);
      slot.b = -1;
    });
  }

  private wait(s: number, ticket: number, epoch: number): void {
    const deadline = Date.now() + (this.o.waitMs ?? AUGMENT_WAIT_MS);
    const thread = s % this.workers.length;
    for (;;) {
      const v = Atomics.load(this.status, s);
      if (v === ticket) break;
      if (v === -ticket) {
        (this.slots[s] as Slot).ticket = 0;
        const msg = receiveMessageOnPort((this.workers[thread] as { port: MessagePort }).port)?.message as
          { message?: string } | undefined;
        throw new RingtrainError(
          'JOB_FAILED',
          `augmentation thread ${thread} failed on a batch of epoch ${epoch + 1}: ${msg?.message ?? 'no message'}`,
        );
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new RingtrainError(
          'JOB_FAILED',
          `augmentation thread ${thread} did not finish a batch of epoch ${epoch + 1} within ` +
            `${(this.o.waitMs ?? AUGMENT_WAIT_MS) / 1000} s: is the machine overloaded? data.augment.threads 0 ` +
            `augments on the training thread instead`,
        );
      }
      Atomics.wait(this.status, s, v, left);
    }
    (this.slots[s] as Slot).ticket = 0;
  }

  /** Stops the threads; idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.workers) w.port.close();
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}

/**
 * One epoch's batches through the threads, with BatchPipeline's contract: get(b) returns a
 * batch that stays valid until get(b + 2), in buffers of the training thread's own.
 */
class ThreadedBatches implements EpochBatches {
  private readonly own: Batch[];
  /** The next batch to hand to a thread. */
  private next = -1;

  constructor(
    private readonly pool: AugmentThreads,
    private readonly source: RowSource,
    private readonly batches: Int32Array[],
    batchSize: number,
    private readonly epoch: number,
  ) {
    const f = source.features;
    const k = source.classes ?? 1;
    this.own = [0, 1].map(() => ({
      x: new Float32Array(batchSize * f),
      y: new Int32Array(batchSize),
      t: source.targets !== undefined ? new Float32Array(batchSize * k) : undefined,
    }));
  }

  prepare(b: number): void {
    if (this.next < 0) this.fillFrom(b);
  }

  get(b: number): Batch {
    let done = this.pool.finished(b, this.epoch);
    if (done === undefined) {
      // Not handed out (the first call, or the loop jumped): start over from b.
      this.pool.drain();
      this.fillFrom(b);
      done = this.pool.finished(b, this.epoch) as Batch;
    }
    const out = copyBatch(done, this.own[b % 2] as Batch);
    // b's slot is free again: hand out the batch that goes there next.
    this.fillTo(b + this.pool.slotCount);
    return out;
  }

  private fillFrom(b: number): void {
    this.next = b;
    this.fillTo(b + this.pool.slotCount - 1);
  }

  private fillTo(last: number): void {
    for (; this.next <= Math.min(last, this.batches.length - 1); this.next++) {
      this.pool.schedule(this.source, this.next, this.batches[this.next] as Int32Array, this.epoch);
    }
  }
}

/** Copies `src` into `own`'s buffers (views of their first rows for a short batch). */
function copyBatch(src: Batch, own: Batch): Batch {
  const rows = src.y.length;
  const x = own.x.subarray(0, src.x.length);
  x.set(src.x);
  const y = own.y.subarray(0, rows);
  y.set(src.y);
  let t: Float32Array | undefined;
  if (src.t !== undefined && own.t !== undefined) {
    t = own.t.subarray(0, src.t.length);
    t.set(src.t);
  }
  return { x, y, t };
}
