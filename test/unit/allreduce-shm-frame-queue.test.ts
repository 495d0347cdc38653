import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import {
  FrameQueueReader,
  FrameQueueWriter,
  QUEUE_END,
  QUEUE_SLOTS,
  SLOT_BYTES,
} from '../../src/allreduce/shm-frame-queue';

// The queue is plain memory: one Uint8Array stands in for the segment both processes map.
const frame = (n: number): Uint8Array => Uint8Array.from({ length: 56 }, (_, i) => (n * 7 + i) & 0xff);

test('frames come out of the queue in the order they went in, each once, and wrap around the slots', () => {
  const seg = new Uint8Array(QUEUE_END + 1024);
  const w = new FrameQueueWriter(seg);
  const r = new FrameQueueReader(seg);
  let sent = 0;
  let seen = 0;
  // Three times round the slots, in uneven batches.
  for (const batch of [1, 5, QUEUE_SLOTS - 3, 40, QUEUE_SLOTS, 2, 100]) {
    for (let i = 0; i < batch; i++) assert.equal(w.push(frame(sent++)), true);
    assert.equal(r.ready, true);
    const got: number[][] = [];
    assert.equal(
      r.drain((f) => got.push([...f.subarray(0, 56)])),
      batch,
    );
    assert.equal(got.length, batch);
    for (const g of got) assert.deepEqual(g, [...frame(seen++)]);
    assert.equal(r.ready, false);
    assert.equal(
      r.drain(() => assert.fail('nothing is queued')),
      0,
    );
  }
  assert.equal(seen, sent);
});

test('a full queue refuses the frame instead of overwriting one not yet read, and takes frames again once read', () => {
  const seg = new Uint8Array(QUEUE_END);
  const w = new FrameQueueWriter(seg);
  const r = new FrameQueueReader(seg);
  for (let i = 0; i < QUEUE_SLOTS; i++) assert.equal(w.push(frame(i)), true);
  assert.equal(w.push(frame(999)), false);
  let first: number[] = [];
  let n = 0;
  r.drain((f) => {
    if (n++ === 0) first = [...f.subarray(0, 56)];
  });
  assert.deepEqual(first, [...frame(0)], 'the oldest frame survived the refused push');
  assert.equal(w.push(frame(1000)), true);
});

test('a second reader over the same memory starts where the first stopped (a mapping in another process)', () => {
  const seg = new Uint8Array(QUEUE_END);
  const w = new FrameQueueWriter(seg);
  w.push(frame(1));
  w.push(frame(2));
  new FrameQueueReader(seg).drain(() => undefined);
  w.push(frame(3));
  const later: number[][] = [];
  new FrameQueueReader(seg).drain((f) => later.push([...f.subarray(0, 56)]));
  assert.deepEqual(later, [[...frame(3)]]);
});

test('frames larger than a slot and segments too small for the queue are errors, not corruption', () => {
  assert.throws(() => new FrameQueueWriter(new Uint8Array(QUEUE_END - 1)), /no room for the frame queue/);
  const w = new FrameQueueWriter(new Uint8Array(QUEUE_END));
  assert.throws(() => w.push(new Uint8Array(SLOT_BYTES + 1)), /does not fit a 64-byte queue slot/);
});
