/**
 * A rank's handle on its ring: numbers the collectives (every rank runs the same sequence, so the
 * numbers agree without talking), cuts large buffers into buckets, and offers the three
 * collectives training needs.
 */
import { scaleFloats, simdBuffer, RingtrainError } from '../core';
import { DEFAULT_BLOCK_ELEMENTS, ringAllReduce, type RingOptions } from './allreduce-ring';
import { pairAllReduce } from './allreduce-pair';
import { HostHierarchy } from './allreduce-hierarchical';
import { hierarchyFits, hostGroups } from './host-groups';
import { ringBroadcast } from './broadcast-ring';
import { OFFER_BYTES, SharedPair } from './shm-pair';
import type { Transport } from './transport';
import { bytesPerElement, type WireDtype } from './wire-dtype';
import {
  DEFAULT_BUCKET_ELEMENTS,
  EXACT_BELOW_ELEMENTS,
  PAIR_MAX_ELEMENTS,
  type CollectiveStats,
  type CommunicatorOptions,
} from './communicator-options';

/**
 * How often all-reduces that need no event loop (through a shared file, or of one rank) let it
 * run anyway, for heartbeats and scrapes: a turn costs ~19 us, 5% of a one-worker MLP step.
 */
const YIELD_EVERY_NS = 5_000_000n;

/** Lets pending socket writes go out before the caller blocks the event loop with compute. */
const yieldToIo = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class Communicator {
  private opSeq = 0;
  /** Acks of sends not yet confirmed by the receiver; see ringAllReduce. */
  private readonly inflight = new Set<Promise<void>>();
  /** First failed send: every later collective fails with it instead of waiting for a timeout. */
  private failure: Error | undefined;
  /** Receive landing space per bucket, grown on demand and reused by every all-reduce of this rank. */
  private readonly scratchBufs = new Map<number, Uint8Array>();
  /** Buffers made by `allocate`: the landing space of each bucket, in the buffer's own memory. */
  private readonly regions = new WeakMap<ArrayBufferLike, Uint8Array[]>();
  private scratchFor(buf: Float32Array, bucket: number): (bytes: number) => Uint8Array {
    return (bytes) => {
      const own = buf.byteOffset === 0 ? this.regions.get(buf.buffer)?.[bucket] : undefined;
      // In the same memory as the buffer, so the received blocks are summed with SIMD.
      if (own !== undefined && own.byteLength >= bytes) return own;
      let b = this.scratchBufs.get(bucket);
      if (b === undefined || b.byteLength < bytes) {
        b = new Uint8Array(bytes);
        this.scratchBufs.set(bucket, b);
      }
      return b;
    };
  }
  readonly stats: CollectiveStats = { ops: 0, bytesSent: 0, sharedPairOps: 0 };
  /**
   * Two ranks on one host sum through a shared file (shm-pair.ts) once both agreed to; settled
   * at the first all-reduce, so both ranks ask at the same point of their collective sequence.
   */
  private pairState: { pair: SharedPair | undefined } | undefined;
  /** Settled at the first all-reduce like pairState: whether this ring sums host by host. */
  private hierarchyState: { hierarchy: HostHierarchy | undefined } | undefined;
  /** When this rank last let the event loop run (hrtime ns): shared-file all-reduces never need to. */
  private lastYield = 0n;
  /** mayShareFile's answer, once asked. */
  private shareFile: boolean | undefined;
  private firstArrival: bigint | undefined;
  private sumSquares: number | undefined;

  private readonly bucketElements: number;

  constructor(
    readonly transport: Transport,
    private readonly options: CommunicatorOptions = {},
  ) {
    this.bucketElements = options.bucketElements ?? DEFAULT_BUCKET_ELEMENTS;
  }

  /**
   * A zeroed float32 buffer of `elements` that this communicator reduces fastest: it lives in a
   * WebAssembly memory together with the landing space of each of its buckets, so received
   * blocks arrive next to it and are summed with SIMD. Falls back to a plain Float32Array where
   * the engine lacks SIMD. Allocate gradient buffers once and reuse them.
   */
  allocate(elements: number): Float32Array {
    const dataBytes = align16(elements * 4);
    const slots: number[] = [];
    for (let off = 0; off < elements; off += this.bucketElements) {
      // The ring needs one chunk (at most half a bucket when N >= 2) plus one encoded block; a
      // pair exchange the whole bucket (4 bytes an element: fp32, or fp16 in and fp16 out).
      const length = Math.min(this.bucketElements, elements - off);
      const chunk = Math.ceil(length / 2);
      const ring = chunk * 4 + Math.min(this.options.blockElements ?? DEFAULT_BLOCK_ELEMENTS, chunk) * 2;
      slots.push(align16(length <= PAIR_MAX_ELEMENTS ? Math.max(ring, length * 4) : ring));
    }
    const memory = simdBuffer(dataBytes + slots.reduce((a, b) => a + b, 0));
    if (memory === undefined) return new Float32Array(elements);
    let at = dataBytes;
    this.regions.set(
      memory,
      slots.map((bytes) => {
        const view = new Uint8Array(memory, at, bytes);
        at += bytes;
        return view;
      }),
    );
    return new Float32Array(memory, 0, elements);
  }

  /**
   * Like allocate, for the one buffer a training step all-reduces, and collective: every rank
   * calls it at the same point. Where two ranks on one host sum through a shared file, the
   * buffer is this rank's part of that file, and its all-reduces copy nothing in and move half
   * the bytes (SharedPair.allReduceInPlace). Elsewhere it is allocate's buffer. Asking again
   * hands out the same file memory: the previous such buffer must not be used any more.
   */
  async allocateShared(elements: number): Promise<Float32Array> {
    if (this.mayShareFile() && this.pairState === undefined) this.pairState = { pair: await this.openPair() };
    // Compressed wires go as messages, which sum in the communicator's own memory.
    const pair = (this.options.dtype ?? 'fp32') === 'fp32' ? this.pairState?.pair : undefined;
    const resident = await pair?.residentBuffer(elements);
    if (pair !== undefined && resident === undefined) {
      // A model too large for the file's in-place room: say what it costs and what fixes it
      // (the room is a quarter of the file: half of each rank's half stays for the copy path).
      const mib = (elements * 4) / 2 ** 20;
      const how = elements <= pair.capacity ? 'copied through the shared file' : 'sent as messages';
      this.options.onNote?.(
        `the training step's ${mib.toFixed(1)} MiB gradient buffer does not fit the shared file's room for summing in place (a quarter of cluster.sharedMemoryMb): its all-reduces are ${how}; set cluster.sharedMemoryMb to ${Math.ceil(4 * mib) + 1} or more to sum it in place`,
      );
    }
    return resident ?? this.allocate(elements);
  }

  /**
   * Two ranks that could share a file (both on this host, shared memory on: every rank of the
   * ring answers alike, so both hold the handshake or neither does), and no one asked for the ring.
   * Fixed for the ring's life (its addresses and the options), so asked of the transport once: the
   * answer reads the host's interfaces, and every all-reduce asks.
   */
  private mayShareFile(): boolean {
    this.shareFile ??=
      this.worldSize === 2 && this.transport.pairCandidate?.() === true && this.options.algorithm !== 'ring';
    return this.shareFile;
  }

  /** Settles, at the first all-reduce of a ring that may go hierarchical, whether it does. */
  private async settleHierarchy(): Promise<HostHierarchy | undefined> {
    if (this.hierarchyState !== undefined) return this.hierarchyState.hierarchy;
    const hp =
      this.worldSize > 2 && this.options.algorithm !== 'ring' && this.options.hierarchy !== 'flat'
        ? this.transport.hostPairs?.()
        : undefined;
    if (hp === undefined || !hierarchyFits(hostGroups(hp.hosts))) {
      this.hierarchyState = { hierarchy: undefined };
      return undefined;
    }
    const hierarchy = await HostHierarchy.open(this.transport, hp, () => this.next());
    this.hierarchyState = { hierarchy };
    this.options.onNote?.(
      hierarchy === undefined
        ? 'all-reduces take one ring over every rank: not every same-host pair could share a file'
        : `all-reduces sum through a shared file on each host, then between one rank per host (${hierarchy.hosts} hosts)`,
    );
    return hierarchy;
  }

  get rank(): number {
    return this.transport.identity.rank;
  }

  get worldSize(): number {
    return this.transport.identity.worldSize;
  }

  /**
   * Sums `buf` across all ranks, in place; every rank ends with the same values. The buffer is
   * cut into buckets (cap `bucketElements`). With `pack`, each bucket is filled by
   * `pack(start, end)` just before it is reduced, and its reduction is under way while the next
   * bucket is packed (DDP's overlap of gradient readout and communication); every rank must pack
   * in the same order.
   */
  async allReduceSum(buf: Float32Array, pack?: (start: number, end: number) => void): Promise<void> {
    await this.reduce(buf, pack, 1);
  }

  /** Sums, then multiplies by `scale`; a shared-file pair does both in one pass over the buffer. */
  private async reduce(
    buf: Float32Array,
    pack: ((start: number, end: number) => void) | undefined,
    scale: number,
    squaresOf?: number,
  ): Promise<void> {
    this.throwIfFailed();
    this.sumSquares = undefined;
    const n = this.worldSize;
    if (this.mayShareFile() && this.pairState === undefined) {
      // Both ranks open (or decline) the shared file at their first all-reduce. The caller's
      // gradients may be gone after our first await, so they are packed before it.
      this.packAll(buf, pack);
      pack = undefined;
      this.pairState = { pair: await this.openPair() };
    }
    if (this.hierarchyState === undefined && this.worldSize > 2) {
      // As for the pair: the caller's gradients may be gone after our first await.
      this.packAll(buf, pack);
      pack = undefined;
      await this.settleHierarchy();
    }
    const pair = this.pairState?.pair;
    const seq = this.next();
    const track = this.track;
    // Small buffers are metric sums and counts (loss, correct, samples): exact float32 costs
    // nothing there, and a rounded count would be visible. Compression is for gradients.
    const dtype: WireDtype = buf.length < EXACT_BELOW_ELEMENTS ? 'fp32' : (this.options.dtype ?? 'fp32');
    if (pair?.holds(buf) === true) {
      // The buffer is this rank's half of the shared file (allocateShared): nothing to copy in.
      this.packAll(buf, pack);
      // The turn is agreed with the peer (turnAgreed), so both ranks take it after this all-reduce.
      this.firstArrival = await pair.allReduceInPlace(buf, scale, squaresOf, this.yieldDue());
      this.sumSquares = squaresOf === undefined ? undefined : pair.lastSumSquares;
      this.stats.bytesSent += buf.byteLength / 2;
      this.stats.sharedPairOps += 1;
      if (pair.turnAgreed) await this.yieldNow();
      return;
    }
    if (pair !== undefined && dtype === 'fp32' && buf.length <= pair.capacity) {
      // No wire to overlap with: every bucket is packed now, before the first await, then the
      // whole buffer is summed in one exchange.
      this.packAll(buf, pack);
      const s = this.scratchFor(buf, 0)(buf.byteLength);
      this.firstArrival = await pair.allReduceSum(buf, new Float32Array(s.buffer, s.byteOffset, buf.length), scale);
      this.stats.bytesSent += buf.byteLength;
      this.stats.sharedPairOps += 1;
      // Nothing here needs the event loop, but heartbeats and /metrics do.
      if (this.yieldDue()) await this.yieldNow();
      return;
    }
    const hierarchy = this.hierarchyState?.hierarchy;
    if (hierarchy !== undefined) {
      this.packAll(buf, pack);
      await this.reduceHierarchical(hierarchy, buf, seq, dtype, scale);
      return;
    }
    const running: Promise<void>[] = [];
    for (let b = 0, off = 0; off < buf.length; b++, off += this.bucketElements) {
      const end = Math.min(buf.length, off + this.bucketElements);
      pack?.(off, end);
      const bucket = buf.subarray(off, end);
      const pair = n === 2 && bucket.length <= PAIR_MAX_ELEMENTS && this.options.algorithm !== 'ring';
      const op = (pair ? pairAllReduce : ringAllReduce)(this.transport, bucket, seq, b, {
        dtype,
        blockElements: this.options.blockElements,
        onSend: track,
        scratch: this.scratchFor(buf, b),
      });
      op.catch(() => undefined);
      running.push(op);
      if (pack === undefined) await op;
      this.stats.bytesSent += n > 1 ? Math.ceil((2 * (n - 1) * bucket.length * bytesPerElement(dtype)) / n) : 0;
    }
    await Promise.all(running);
    this.firstArrival = this.transport.takeFirstArrival(seq);
    if (n > 1 || this.yieldDue()) await this.yieldNow();
    this.throwIfFailed();
    if (scale !== 1) scaleFloats(buf, scale);
  }

  /** Keeps a send's acknowledgement until it settles; a failure fails every later collective. */
  private readonly track = (ack: Promise<void>): void => {
    this.inflight.add(ack);
    ack.then(
      () => this.inflight.delete(ack),
      (e: unknown) => {
        this.inflight.delete(ack);
        this.failure ??= e instanceof Error ? e : new Error(String(e));
      },
    );
  };

  /**
   * A mean all-reduce of `buf` whose parts are handed over one by one as they are ready
   * (`add(start, end)`: gradients of the last layers first, while backward computes the earlier
   * ones), each reduced at once; `done()` resolves when all of `buf` is the mean. Every rank
   * must add the same ranges in the same order, covering `buf`. The sums are those of
   * allReduceMean bit for bit on two ranks (each element is a + b either way); on more, each
   * range is a ring of its own, so the order of additions (not the replicas' agreement) differs.
   * Undefined where nothing would overlap: one rank, or a path without messages (a same-host
   * pair's shared file, a hierarchy's), or before the first all-reduce settled which path
   * this ring takes; the caller then computes everything and calls allReduceMean.
   */
  overlapped(buf: Float32Array): { add(start: number, end: number): Promise<void>; done(): Promise<void> } | undefined {
    if (!this.canOverlap()) return undefined;
    const n = this.worldSize;
    this.throwIfFailed();
    // No path here reads the squares while it sums: lastSumSquares must not be an older one's.
    this.sumSquares = undefined;
    const seq = this.next();
    const dtype: WireDtype = buf.length < EXACT_BELOW_ELEMENTS ? 'fp32' : (this.options.dtype ?? 'fp32');
    const running: Promise<void>[] = [];
    let b = 0;
    const add = (start: number, end: number): Promise<void> => {
      const ops: Promise<void>[] = [];
      for (let off = start; off < end; off += this.bucketElements) {
        const bucket = buf.subarray(off, Math.min(end, off + this.bucketElements));
        const pair = n === 2 && bucket.length <= PAIR_MAX_ELEMENTS && this.options.algorithm !== 'ring';
        const op = (pair ? pairAllReduce : ringAllReduce)(this.transport, bucket, seq, b, {
          dtype,
          blockElements: this.options.blockElements,
          onSend: this.track,
          scratch: this.scratchFor(buf, b),
        });
        op.catch(() => undefined);
        running.push(op);
        ops.push(op);
        b += 1;
        this.stats.bytesSent += Math.ceil((2 * (n - 1) * bucket.length * bytesPerElement(dtype)) / n);
      }
      const all = Promise.all(ops).then(() => undefined);
      all.catch(() => undefined);
      return all;
    };
    const done = async (): Promise<void> => {
      await Promise.all(running);
      this.firstArrival = this.transport.takeFirstArrival(seq);
      await this.yieldNow();
      this.throwIfFailed();
      scaleFloats(buf, 1 / n);
    };
    return { add, done };
  }

  /** Whether overlapped() would hand out a reducer now (nothing started): the same answer on every rank. */
  canOverlap(): boolean {
    const n = this.worldSize;
    if (n < 2 || (n === 2 && (this.pairState === undefined ? this.mayShareFile() : this.pairState.pair !== undefined)))
      return false;
    if (n > 2 && this.hierarchyState?.hierarchy !== undefined) return false;
    // A ring that may still go hierarchical at its first all-reduce does not overlap before it knows.
    const mayGoHierarchical =
      n > 2 &&
      this.hierarchyState === undefined &&
      this.options.hierarchy !== 'flat' &&
      this.transport.hostPairs?.() !== undefined;
    return !mayGoHierarchical;
  }

  /** Sums `buf` host by host (allreduce-hierarchical.ts), times `scale`. */
  private async reduceHierarchical(
    hierarchy: HostHierarchy,
    buf: Float32Array,
    seq: number,
    dtype: WireDtype,
    scale: number,
  ): Promise<void> {
    const ringOptions = (b: number): RingOptions => ({
      dtype,
      blockElements: this.options.blockElements,
      onSend: this.track,
      scratch: this.scratchFor(buf, b),
    });
    this.firstArrival = await hierarchy.allReduce(buf, seq, scale, {
      ring: ringOptions,
      bucketElements: this.bucketElements,
      pairMaxElements: PAIR_MAX_ELEMENTS,
    });
    // Wire bytes of one leader (pair exchange or ring of hosts); the file's copies are not wire.
    const h = hierarchy.hosts;
    if (hierarchy.leads)
      this.stats.bytesSent += Math.ceil((h === 2 ? 1 : (2 * (h - 1)) / h) * buf.length * bytesPerElement(dtype));
    this.stats.sharedPairOps += 1;
    await this.yieldNow();
    this.throwIfFailed();
  }

  /** Fills every bucket of `buf` now, in the order the buckets are reduced. */
  private packAll(buf: Float32Array, pack: ((start: number, end: number) => void) | undefined): void {
    if (pack === undefined) return;
    for (let off = 0; off < buf.length; off += this.bucketElements)
      pack(off, Math.min(buf.length, off + this.bucketElements));
  }

  private async yieldNow(): Promise<void> {
    await yieldToIo();
    this.lastYield = process.hrtime.bigint();
  }

  /** For paths that need no event loop themselves: a turn is due once YIELD_EVERY_NS has passed. */
  private yieldDue(): boolean {
    return process.hrtime.bigint() - this.lastYield > YIELD_EVERY_NS;
  }

  /** Rank 0 offers a shared file over the ring, rank 1 maps it; both use it only if both could. */
  private async openPair(): Promise<SharedPair | undefined> {
    const t = this.transport;
    const setup = t.sharedPair?.();
    const pair = await SharedPair.open(this.rank, setup, {
      broadcast: async (bytes) => {
        const words = new Float32Array(bytes.buffer, bytes.byteOffset, OFFER_BYTES / 4);
        await ringBroadcast(t, words, this.next(), 0);
      },
      both: async (yes) => {
        const votes = new Float32Array([yes ? 1 : 0]);
        await ringAllReduce(t, votes, this.next(), 0);
        return votes[0] === 2;
      },
    });
    if (setup === undefined) return pair;
    if (pair === undefined) {
      this.options.onNote?.(`all-reduces with ${setup.peer} go as messages: the two ranks could not share a file`);
      return pair;
    }
    const wire = this.options.dtype ?? 'fp32';
    const mib = Math.round((pair.capacity * 4) / 2 ** 20);
    this.options.onNote?.(
      wire === 'fp32'
        ? `all-reduces with ${setup.peer} go through a shared file (up to ${mib} MiB each; larger ones as messages)`
        : `float32 all-reduces with ${setup.peer} go through a shared file (up to ${mib} MiB each; larger ones as messages; ${wire} gradients as messages, as compression asks)`,
      true,
    );
    return pair;
  }

  /**
   * When (process.hrtime.bigint()) the first message of the last all-reduce arrived from a
   * neighbour; undefined with one rank. Time a rank spent ready before this was spent waiting
   * for a slower peer, not exchanging data.
   */
  get lastFirstArrival(): bigint | undefined {
    return this.firstArrival;
  }

  /**
   * Averages `buf` across ranks (sum, then divide by the world size); `pack` as for allReduceSum.
   * With `squaresOf`, a path that can read the sum of squares of the mean's first `squaresOf`
   * values in its own pass does (a shared-file pair, in place): see lastSumSquares.
   */
  async allReduceMean(
    buf: Float32Array,
    pack?: (start: number, end: number) => void,
    squaresOf?: number,
  ): Promise<void> {
    await this.reduce(buf, pack, 1 / this.worldSize, squaresOf);
  }

  /**
   * The sum of squares of the last allReduceMean's first `squaresOf` results when its path read
   * it (the same number on every rank); undefined when it did not, and the caller sums them.
   */
  get lastSumSquares(): number | undefined {
    return this.sumSquares;
  }

  /** Waits for every outstanding send to be acknowledged; throws the first failure. */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.inflight]);
    this.throwIfFailed();
  }

  /** Copies root's `buf` into every other rank's `buf`. */
  async broadcast(buf: Float32Array, root = 0): Promise<void> {
    await this.drain();
    await ringBroadcast(this.transport, buf, this.next(), root);
    if (this.rank !== root) return;
    this.stats.bytesSent += buf.byteLength;
  }

  /** Returns once every rank has reached the barrier. */
  async barrier(): Promise<void> {
    await this.drain();
    const one = new Float32Array([1]);
    const seq = this.next();
    await ringAllReduce(this.transport, one, seq, 0);
    if (one[0] !== this.worldSize) {
      throw new RingtrainError('PEER_REFUSED', `barrier counted ${one[0]} ranks, expected ${this.worldSize}`);
    }
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  private next(): number {
    this.opSeq += 1;
    this.stats.ops += 1;
    this.transport.beginOp(this.opSeq);
    return this.opSeq;
  }
}

function align16(bytes: number): number {
  return Math.ceil(bytes / 16) * 16;
}
