/**
 * The frame queue at the head of a shared segment (shm-segment.ts): the sender writes each
 * DATA_SHARED frame into a slot and bumps a counter; the receiver can then see the frame by
 * reading memory, without waiting for the socket. A rank waiting for its neighbour polls this
 * queue for a while (TcpTransport.poll) instead of sleeping in epoll: a wake-up through a
 * loopback socket costs far more than a poll of memory, most of all in the tail. MPI's and NCCL's shared-memory
 * paths poll the same way.
 *
 * Single producer (the segment's owner), single consumer (its successor). `published` and
 * `consumed` are free-running 32-bit counters in the segment; a frame's bytes are written before
 * `published` moves past it, and the consumer reads them before moving `consumed`, so neither
 * side ever reads a half-written slot. The socket still carries a small KICK frame for every
 * queued frame, so a receiver that is not polling (or stopped polling) is woken as before; the
 * kick only makes it drain the queue, which is a no-op when a poll already took the frame.
 */

/** Byte offsets in the segment: the two counters on cache lines of their own, then the slots. */
const PUBLISHED_AT = 64;
const CONSUMED_AT = 128;
const SLOTS_AT = 192;
/** Slots (a power of two) and bytes per slot; a frame header and its 8-byte body fit in 64. */
export const QUEUE_SLOTS = 128;
export const SLOT_BYTES = 64;
/** Where payload space starts after the queue (a multiple of 64). */
export const QUEUE_END = SLOTS_AT + QUEUE_SLOTS * SLOT_BYTES;

function counters(view: Uint8Array): Int32Array {
  if (view.byteLength < QUEUE_END)
    throw new Error(`a ${view.byteLength}-byte segment has no room for the frame queue (${QUEUE_END} bytes)`);
  // Atomics.load/store keep the compiler from caching or reordering these accesses; the
  // counters sit on their own cache lines so the two sides do not share one for writing.
  return new Int32Array(view.buffer, view.byteOffset + PUBLISHED_AT, (CONSUMED_AT - PUBLISHED_AT + 4) / 4);
}
const CONSUMED = (CONSUMED_AT - PUBLISHED_AT) / 4;

/** The sender's end. */
export class FrameQueueWriter {
  private readonly count: Int32Array;

  constructor(private readonly view: Uint8Array) {
    this.count = counters(view);
  }

  /** Queues `frame`; false when every slot is still unread (the frame then goes down the socket). */
  push(frame: Uint8Array): boolean {
    if (frame.byteLength > SLOT_BYTES)
      throw new Error(`a ${frame.byteLength}-byte frame does not fit a ${SLOT_BYTES}-byte queue slot`);
    const p = Atomics.load(this.count, 0);
    if (((p - Atomics.load(this.count, CONSUMED)) | 0) >= QUEUE_SLOTS) return false;
    this.view.set(frame, SLOTS_AT + (p & (QUEUE_SLOTS - 1)) * SLOT_BYTES);
    Atomics.store(this.count, 0, (p + 1) | 0);
    return true;
  }
}

/** The receiver's end. */
export class FrameQueueReader {
  private readonly count: Int32Array;
  private next: number;

  constructor(private readonly view: Uint8Array) {
    this.count = counters(view);
    this.next = Atomics.load(this.count, CONSUMED);
  }

  /** Whether a frame is waiting. */
  get ready(): boolean {
    return Atomics.load(this.count, 0) !== this.next;
  }

  /**
   * Hands each queued frame to `take` (a view of its slot, valid only during the call) and frees
   * its slot; returns how many there were.
   */
  drain(take: (frame: Buffer) => void): number {
    const end = Atomics.load(this.count, 0);
    let n = 0;
    while (this.next !== end) {
      const at = this.view.byteOffset + SLOTS_AT + (this.next & (QUEUE_SLOTS - 1)) * SLOT_BYTES;
      this.next = (this.next + 1) | 0;
      n += 1;
      try {
        take(Buffer.from(this.view.buffer, at, SLOT_BYTES));
      } finally {
        Atomics.store(this.count, CONSUMED, this.next);
      }
    }
    return n;
  }
}
