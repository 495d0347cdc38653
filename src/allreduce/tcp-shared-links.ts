/**
 * The TCP ring's shared-memory links (see shm-segment.ts): the segments this rank offered its
 * successors, the ones they mapped, and its predecessor's. The transport keeps the sockets and
 * asks this class where a payload goes; all it knows about segments is here.
 */
import { performance } from 'node:perf_hooks';
import { RingtrainError } from '../core';
import { FrameQueueReader, FrameQueueWriter } from './shm-frame-queue';
import {
  SegmentRing,
  createSegment,
  isOwnAddress,
  offerLine,
  openSegment,
  parseOffer,
  unlinkSegment,
  type SegmentOffer,
} from './shm-segment';
import { SHARED_BODY_BYTES } from './tcp-frame';

/** Payloads below this go down the socket even with a shared segment: the frame costs as much. */
export const SHARED_MIN_BYTES = 4096;

export interface TcpSharedMemory {
  /** Size of the segment offered to a same-host successor; 0 = sockets only. */
  bytes: number;
  /** Where segments are created; /dev/shm unless given. */
  dir?: string;
  /**
   * How long a rank waiting for its same-host predecessor polls the shared frame queue before
   * sleeping on the socket (microseconds; 0 = never poll). Polling keeps the rank's CPU busy,
   * so it only pays when each worker has a CPU of its own (see pollsHere).
   */
  pollMicros?: number;
  /** This worker is bound to CPUs of its own (launch --cpu-bind, worker --cpus). */
  ownCpus?: boolean;
  /** Hears where payloads to each successor go (for the worker's log and metrics), once it is known. */
  onNote?: (note: string, link: { to: number; shared: boolean }) => void;
}

/** A payload placed in a successor's segment: where it lies, and how to free its region once answered. */
export interface Staged {
  offset: number;
  release: () => void;
}

export class SharedLinks {
  /** Segments offered to successors that have not answered yet, by rank. */
  private readonly offers = new Map<number, SegmentOffer>();
  /** Segments successors mapped: payloads to them go through these, their frames through the queues. */
  private readonly to = new Map<number, SegmentRing>();
  private readonly queuesTo = new Map<number, FrameQueueWriter>();
  /** The predecessor's segment, once mapped, and its frame queue. */
  private from: Uint8Array | undefined;
  private queueFrom: FrameQueueReader | undefined;

  constructor(
    private readonly o: TcpSharedMemory,
    /** TLS on the ring: every byte must go through it, so no segment is ever offered. */
    private readonly tls: boolean,
    private readonly who: (rank: number) => string,
  ) {}

  /** The successor mapped our segment, and whether the predecessor's is mapped. */
  get state(): { to: number[]; from: boolean } {
    return { to: [...this.to.keys()], from: this.from !== undefined };
  }

  /** Lines to add to the HELLO answer for successor `rank`: a segment offer, when one can be had. */
  offer(rank: number, remote: string | undefined): string[] {
    if (this.o.bytes <= 0 || this.tls) return [];
    this.drop(rank);
    if (!isOwnAddress(remote)) {
      this.note(rank, `go over TCP (it connects from ${remote ?? '?'}, another host)`, false);
      return [];
    }
    const seg = createSegment(this.o.bytes, this.o.dir);
    if ('why' in seg) {
      this.note(rank, `go over TCP: no shared memory (${seg.why})`, false);
      return [];
    }
    this.offers.set(rank, seg);
    return [offerLine(seg)];
  }

  /** The successor mapped our segment (empty answer) or could not; either way the file goes. */
  answered(rank: number, why: string): void {
    const seg = this.offers.get(rank);
    if (seg === undefined) return;
    this.offers.delete(rank);
    unlinkSegment(seg.path);
    if (why !== '') {
      this.note(rank, `go over TCP: ${why}`, false);
      return;
    }
    this.to.set(rank, new SegmentRing(seg.view));
    this.queuesTo.set(rank, new FrameQueueWriter(seg.view));
    this.note(rank, `go through shared memory (${Math.round(seg.bytes / 2 ** 20)} MiB segment)`, true);
  }

  /** The predecessor's HELLO answer: maps its offer, if any; returns the answer to send ('' = mapped), or undefined when there was no offer. */
  accept(helloBody: string): string | undefined {
    const offer = parseOffer(helloBody.split('\n')[1] ?? '');
    if (offer === undefined) return undefined;
    const r = openSegment(offer);
    if (!(r instanceof Uint8Array)) return r.why;
    this.from = r;
    this.queueFrom = new FrameQueueReader(r);
    return '';
  }

  /** Queues a DATA_SHARED frame for successor `rank` to find by polling; false = send it down the socket. */
  publish(rank: number, frame: Uint8Array): boolean {
    return this.queuesTo.get(rank)?.push(frame) ?? false;
  }

  /** Whether the predecessor's frames can be polled from shared memory. */
  get pollable(): boolean {
    return this.queueFrom !== undefined;
  }

  /**
   * Spins until a frame from the predecessor is queued (true) or performance.now() passes
   * `untilMs` (false). performance.now() allocates nothing, unlike hrtime.bigint(): a spin must
   * not feed the GC.
   */
  awaitFrame(untilMs: number): boolean {
    const q = this.queueFrom;
    if (q === undefined) return false;
    while (!q.ready) if (performance.now() > untilMs) return false;
    return true;
  }

  /** Hands the predecessor's queued frames to `take`, in order; returns how many. */
  drain(take: (frame: Buffer) => void): number {
    return this.queueFrom?.drain(take) ?? 0;
  }

  /**
   * Copies `payload` into successor `rank`'s segment (so the caller may reuse its memory) and
   * says where it lies; undefined when it goes down the socket instead.
   */
  stage(rank: number, payload: Uint8Array): Staged | undefined {
    const ring = payload.byteLength >= SHARED_MIN_BYTES ? this.to.get(rank) : undefined;
    const offset = ring === undefined ? -1 : ring.alloc(payload.byteLength);
    if (ring === undefined || offset < 0) return undefined;
    ring.view.set(payload, offset);
    return { offset, release: () => ring.free(offset) };
  }

  /** A DATA_SHARED body from the predecessor: the payload's bytes in its segment, or why not. */
  arrival(body: Uint8Array): { bytes: Uint8Array } | { refusal: RingtrainError } {
    const seg = this.from;
    if (seg === undefined || body.byteLength !== SHARED_BODY_BYTES)
      return { refusal: new RingtrainError('PEER_REFUSED', 'a shared-memory payload came without a mapped segment') };
    const dv = new DataView(body.buffer, body.byteOffset, SHARED_BODY_BYTES);
    const offset = dv.getUint32(0, true);
    const length = dv.getUint32(4, true);
    if (offset + length > seg.byteLength)
      return {
        refusal: new RingtrainError(
          'PEER_REFUSED',
          `a shared-memory payload at ${offset}+${length} runs past the ${seg.byteLength}-byte segment`,
        ),
      };
    // The mailbox checks the rest (job, generation, declared size against these bytes) on delivery.
    return { bytes: seg.subarray(offset, offset + length) };
  }

  /** The ring is going: offered files are removed, mappings dropped (unmapped when collected). */
  forget(): void {
    for (const seg of this.offers.values()) unlinkSegment(seg.path);
    this.offers.clear();
    this.to.clear();
    this.queuesTo.clear();
    this.from = undefined;
    this.queueFrom = undefined;
  }

  /** A new connection from successor `rank`: whatever it was offered or mapped before is void. */
  private drop(rank: number): void {
    const old = this.offers.get(rank);
    if (old !== undefined) unlinkSegment(old.path);
    this.offers.delete(rank);
    this.to.delete(rank);
    this.queuesTo.delete(rank);
  }

  private note(rank: number, how: string, shared: boolean): void {
    this.o.onNote?.(`payloads to ${this.who(rank)} ${how}`, { to: rank, shared });
  }
}

/**
 * Whether a rank may poll: a polling rank keeps its CPU busy while it waits, so with more ranks
 * on this host than CPUs they may use it would take the CPU of the rank it waits for. Ranks
 * bound to CPUs of their own never share one. `cpus` is what this process may run on (its
 * affinity: a launcher's taskset or cgroup cpuset passes to the workers it starts).
 */
export function pollsHere(ranksOnHost: number, cpus: number, ownCpus: boolean): boolean {
  return ownCpus || ranksOnHost <= cpus;
}
