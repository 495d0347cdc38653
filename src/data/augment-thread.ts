/**
 * The body of one augmentation thread (augment-threads.ts starts it). It augments the rows the
 * training thread has gathered into a shared slot, with the same rowAugmenter the inline path
 * runs, then publishes the job's ticket in the slot's status word and wakes the waiter. A failure
 * publishes the negated ticket and its message, which the training thread reads synchronously.
 */
import { workerData, type MessagePort } from 'node:worker_threads';
import type { AugmentSpec } from '../config';
import { rowAugmenter, type ImageShape } from './augment';

export interface AugmentThreadData {
  spec: AugmentSpec;
  shape: ImageShape;
  fill: number;
  seed: number;
  /** Every slot's rows, `slotFloats` floats each. */
  slots: SharedArrayBuffer;
  slotFloats: number;
  /** One Int32 per slot: the ticket of the job last finished there (negative: it failed). */
  status: SharedArrayBuffer;
  port: MessagePort;
}

export interface AugmentJob {
  slot: number;
  ticket: number;
  epoch: number;
  /** The dataset indices of the slot's rows, in order. */
  idx: Int32Array;
}

function serve(d: AugmentThreadData): void {
  const rows = rowAugmenter(d.spec, d.shape, d.fill, d.seed);
  const status = new Int32Array(d.status);
  const features = d.shape[0] * d.shape[1] * d.shape[2];
  d.port.on('message', (job: AugmentJob) => {
    try {
      rows(new Float32Array(d.slots, job.slot * d.slotFloats * 4, job.idx.length * features), job.idx, job.epoch);
      Atomics.store(status, job.slot, job.ticket);
    } catch (e) {
      d.port.postMessage({ ticket: job.ticket, message: e instanceof Error ? e.message : String(e) });
      Atomics.store(status, job.slot, -job.ticket);
    }
    Atomics.notify(status, job.slot);
  });
}

serve(workerData as AugmentThreadData);
