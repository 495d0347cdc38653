/**
 * All-reduce of two ranks on one host through one shared file, with no socket, frame or
 * event-loop turn in the way. Each rank copies its buffer into its own half of the file, raises
 * its counter, polls the peer's counter, adds the peer's half straight out of the file (the
 * addon's addScaled; without it, a copy out, then the add), and says it is done with it. The TCP
 * transport's shared-memory path carries the same bytes, but each message also costs a frame,
 * a kick and an ACK on the socket and a few event-loop turns (docs/benchmarks/train-mlp.md
 * shows both paths' all-reduce times). MPI's and NCCL's intra-node collectives work the same way (a
 * buffer per rank, flags polled in memory).
 *
 * The training step's own buffer can live in the file (residentBuffer): then nothing is copied
 * in, and each rank sums only its part, writing each sum to both halves (allReduceInPlace), half the
 * memory traffic (`bench allreduce --transport tcp+shm` shows both paths).
 *
 * Replicas agree bit for bit: rank 0 adds b to a, rank 1 a to b, and float addition commutes.
 *
 * The file is a segment of shm-segment.ts (its magic and nonce prove both ranks map the same
 * file); the frame queue area is unused, and after DATA_START come the counters, then the halves.
 */
import { performance } from 'node:perf_hooks';
import { threadId } from 'node:worker_threads';
import { addFloats, scaleFloats, RingtrainError } from '../core';
import { nativeSharedMemory } from '../native';
import type { SharedPairSetup } from './transport';
import { createSegment, DATA_START, offerLine, openSegment, parseOffer, unlinkSegment } from './shm-segment';

/** Bytes of the rank's broadcast offer (the segment's offer line, zero-padded). */
export const OFFER_BYTES = 512;
/** Each counter on a cache line of its own, so one rank's stores do not evict the other's. */
const LINE = 64;
const COUNTERS_BYTES = 16 * LINE;
const published = (rank: number): number => (DATA_START + rank * LINE) / 4;
const consumed = (rank: number): number => (DATA_START + (2 + rank) * LINE) / 4;
/** In-place all-reduces: this rank's part of the sum is in its half. */
const summed = (rank: number): number => (DATA_START + (4 + rank) * LINE) / 4;
/** The length of the rank's resident buffer, so a pair that disagrees on it fails instead of mixing bytes. */
const residentLength = (rank: number): number => (DATA_START + (6 + rank) * LINE) / 4;
/** A float64: the sum of squares of this rank's summed part of an in-place all-reduce. */
const partSquares = (rank: number): number => (DATA_START + (8 + rank) * LINE) / 8;
/** Non-zero while the rank sleeps on a futex in waitFor: the peer's next signal wakes it. */
const sleeping = (rank: number): number => (DATA_START + (10 + rank) * LINE) / 4;
/** The rank's process and thread ids: ranks on one thread must not sleep waiting for each other. */
const owner = (rank: number): number => (DATA_START + (12 + rank) * LINE) / 4;
/** The in-place all-reduce's sequence number when the rank wants an event-loop turn after it, else its complement. */
const turnWanted = (rank: number): number => (DATA_START + (14 + rank) * LINE) / 4;
const HALVES_AT = DATA_START + COUNTERS_BYTES;
/** Floats per cache line: the resident buffer and the in-place split start on line boundaries. */
const LINE_FLOATS = LINE / 4;

/** How the two ranks agree, over the ring's ordinary collectives, to use a file. */
export interface PairHandshake {
  /** Rank 0's OFFER_BYTES reach rank 1 (a broadcast). */
  broadcast(bytes: Uint8Array): Promise<void>;
  /** True on both ranks when both said yes (an all-reduce of the two answers). */
  both(yes: boolean): Promise<boolean>;
}

/** Flag reads between two clock reads while spinning: well under a microsecond of reading. */
const SPIN_READS = 256;
/** One futex sleep at most, so aborts and the deadline are checked. */
const SLEEP_SLICE_MICROS = 1000;
/** Longest the event loop goes without a turn while a wait sleeps (heartbeats, aborts). */
const LOOP_TURN_EVERY_MS = 2;

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class SharedPair {
  private readonly counters: Int32Array;
  private readonly squares: Float64Array;
  /** The last in-place all-reduce's sum of squares of its first `squaresOf` results (see allReduceInPlace). */
  private lastSquares: number | undefined;
  /** Whether either rank wanted an event-loop turn after the last allReduceInPlace (see turnAgreed). */
  private turn = false;
  private readonly halves: [Float32Array, Float32Array];
  private seq = 0;
  /**
   * Where this rank's resident buffer starts in each half (floats), once residentBuffer handed
   * one out: the copy path then stages only below it, so it never overwrites the buffer.
   */
  private residentAt: number | undefined;
  /** Writes into our half: streaming stores where the addon has them (shm.cc), else a plain copy. */
  private readonly copyIn: (dst: Float32Array, src: Float32Array) => void;
  /** dst = (dst + peer's half) * scale straight from the file, where the addon has it (shm.cc). */
  private readonly addFromPeer: ((dst: Float32Array, src: Float32Array, scale: number) => void) | undefined;
  /**
   * addFromPeer, returning the sum of squares of the first results, and with `both` writing each
   * result to the peer's half too (shm.cc's addScaledSquares): the in-place all-reduce's pass.
   */
  private readonly addSquaresFromPeer:
    ((dst: Float32Array, src: Float32Array, scale: number, upTo: number, both: boolean) => number) | undefined;
  /** The addon's futex, when it has one (shm.cc). */
  private readonly futex:
    | {
        wait(words: Int32Array, index: number, expected: number, micros: number): number;
        wake(words: Int32Array, index: number): number;
      }
    | undefined;
  /** Whether the peer runs on another thread, known once it wrote its ids (see owner). */
  private peerElsewhere: boolean | undefined;
  /** Futex sleeps taken while waiting, and how many of them a signal ended (tests and logs). */
  readonly sleepStats = { sleeps: 0, woken: 0 };

  private constructor(
    private readonly rank: number,
    view: Uint8Array,
    private readonly setup: SharedPairSetup,
  ) {
    this.counters = new Int32Array(view.buffer, view.byteOffset, HALVES_AT / 4);
    this.squares = new Float64Array(view.buffer, view.byteOffset, HALVES_AT / 8);
    const half = Math.floor((view.byteLength - HALVES_AT) / 2 / LINE) * LINE;
    const at = (r: number): Float32Array =>
      new Float32Array(view.buffer, view.byteOffset + HALVES_AT + r * half, half / 4);
    this.halves = [at(0), at(1)];
    const shm = nativeSharedMemory().shm;
    this.copyIn = shm?.copyStreaming ?? ((dst, src) => dst.set(src));
    this.addFromPeer = shm?.addScaled;
    this.addSquaresFromPeer = shm?.addScaledSquares;
    this.futex =
      shm?.futexWait !== undefined && shm.futexWake !== undefined
        ? { wait: shm.futexWait, wake: shm.futexWake }
        : undefined;
    Atomics.store(this.counters, owner(rank), process.pid);
    Atomics.store(this.counters, owner(rank) + 1, threadId);
  }

  /**
   * Rank 0 creates a file and offers it; rank 1 maps it. Both get a SharedPair only when both
   * could (the answers are all-reduced), so the ranks never disagree on the path an all-reduce
   * takes. `setup` undefined = this rank declines. The file is unlinked either way; the mappings
   * stay valid.
   */
  static async open(
    rank: number,
    setup: SharedPairSetup | undefined,
    handshake: PairHandshake,
  ): Promise<SharedPair | undefined> {
    const offer = new Uint8Array(OFFER_BYTES);
    let view: Uint8Array | undefined;
    let file: string | undefined;
    if (rank === 0 && setup !== undefined && setup.bytes > HALVES_AT + 2 * LINE) {
      const seg = createSegment(setup.bytes, setup.dir);
      if (!('why' in seg)) {
        view = seg.view;
        file = seg.path;
        offer.set(Buffer.from(offerLine(seg)).subarray(0, OFFER_BYTES));
      }
    }
    try {
      await handshake.broadcast(offer);
      if (rank === 1 && setup !== undefined) {
        const line = Buffer.from(offer).toString('utf8').replace(/\0+$/, '');
        const parsed = parseOffer(line);
        const mapped = parsed === undefined ? undefined : openSegment(parsed);
        if (mapped instanceof Uint8Array) view = mapped;
      }
      const agreed = await handshake.both(view !== undefined);
      return agreed && view !== undefined && setup !== undefined ? new SharedPair(rank, view, setup) : undefined;
    } finally {
      if (file !== undefined) unlinkSegment(file);
    }
  }

  /** The most float32 elements one all-reduce of a buffer of the caller's may hold. */
  get capacity(): number {
    return this.residentAt ?? this.halves[0].length;
  }

  /**
   * This rank's half of the file as a buffer of `elements`: all-reduced in place
   * (allReduceInPlace), it is never copied in, and each rank adds only its part and copies the
   * other's sum (half the memory traffic of the copy path). It sits at the end of the half, so
   * buffers passed to allReduceSum stage below it. Both ranks must ask for the same length.
   * Asking again hands out the same memory anew (the previous buffer must not be used again).
   * Undefined when the half cannot hold it with room to spare for the copy path. Zeroed.
   */
  async residentBuffer(elements: number): Promise<Float32Array | undefined> {
    const half = this.halves[0].length;
    const at = Math.floor((half - elements) / LINE_FLOATS) * LINE_FLOATS;
    // Half of each half stays for the copy path (metric sums, broadcasts of the job's state).
    if (elements < 1 || at < half / 2) return undefined;
    // The peer may still be reading what the last all-reduce staged here.
    await this.waitFor(consumed(1 - this.rank), this.seq, `finish all-reduce #${this.seq}`);
    this.residentAt = at;
    Atomics.store(this.counters, residentLength(this.rank), elements);
    const buf = this.halves[this.rank].subarray(at, at + elements);
    buf.fill(0);
    return buf;
  }

  /** True when `buf` is the buffer residentBuffer handed out last. */
  holds(buf: Float32Array): boolean {
    const at = this.residentAt;
    const mine = this.halves[this.rank];
    return (
      at !== undefined &&
      buf.buffer === mine.buffer &&
      buf.byteOffset === mine.byteOffset + at * 4 &&
      at + buf.length <= mine.length
    );
  }

  /**
   * Sums `buf` with the peer's buffer of the same length, in place, on both ranks, and multiplies
   * the sum by `scale` (1/2 makes it the mean; both roundings happen on both ranks). Publishes at
   * once (synchronously, before the first await), so the caller may prepare its next batch
   * while the peer catches up, then waits. `scratch` is landing space for the peer's values
   * next to `buf` (SIMD addition wants both in one WebAssembly memory). Resolves with the time
   * (hrtime) the peer's values were seen: until then this rank was waiting for a slower peer.
   * `spinMs` replaces the pair's spin for that wait: one known to be long (the peer is on the
   * network for its host) should sleep soon, leaving the CPU to others.
   */
  async allReduceSum(buf: Float32Array, scratch: Float32Array, scale = 1, spinMs?: number): Promise<bigint> {
    if (buf.length > this.capacity) throw new Error(`SharedPair holds ${this.capacity} elements, got ${buf.length}`);
    const me = this.rank;
    const peer = 1 - me;
    const seq = (this.seq = (this.seq + 1) | 0);
    const previous = (seq - 1) | 0;
    // Our half still holds the previous sum's values until the peer has copied them out.
    if (Atomics.load(this.counters, consumed(peer)) !== previous)
      await this.waitFor(consumed(peer), previous, 'copy out the previous all-reduce');
    this.copyIn(this.halves[me].subarray(0, buf.length), buf);
    // A seq-cst store: the peer that sees the counter sees the values written before it.
    this.signal(published(me), seq);
    // Returns to the caller, which prepares its next batch before it awaits us.
    await undefined;
    const arrival = await this.waitFor(published(peer), seq, `publish all-reduce #${seq}`, spinMs);
    const theirs = this.halves[peer].subarray(0, buf.length);
    // With the addon: one pass over the peer's half instead of a copy out and an add (and the
    // mean's scaling a third pass). Without it: copy the peer's values next to ours (SIMD
    // addition wants both in one WebAssembly memory), free the half, then add.
    const inbox = this.addFromPeer === undefined ? scratch.subarray(0, buf.length) : undefined;
    if (inbox === undefined) this.addFromPeer?.(buf, theirs, scale);
    else inbox.set(theirs);
    // The peer's half is free for its next publish.
    this.signal(consumed(me), seq);
    if (inbox !== undefined) {
      addFloats(buf, inbox);
      if (scale !== 1) scaleFloats(buf, scale);
    }
    // The caller's resident buffer lives in our half, which the peer may still be reading:
    // wait until it is done, so the caller may write to that buffer when we return.
    if (this.residentAt !== undefined) await this.waitFor(consumed(peer), seq, `finish all-reduce #${seq}`);
    return arrival;
  }

  /**
   * All-reduce of the resident buffer (residentBuffer), in place, times `scale`. The buffer is
   * cut in two at a cache line: rank 0 sums the first part, rank 1 the second, each reading both
   * halves of the file and writing each sum to both, so when both have summed, each buffer holds
   * the whole result and nobody copies anything out of the other's half. Every rank ends with the
   * same bits: each part was summed once. On return the peer has finished with this rank's half,
   * so the caller may write the buffer at once. Resolves with the time the peer's values were
   * seen (see allReduceSum).
   *
   * With `squaresOf`, each rank also sums the squares of its part's results below that index in
   * the same pass, and the two parts' sums are exchanged with the summed flags: afterwards
   * lastSumSquares is the sum of squares of buf[0, squaresOf) (rank 0's part plus rank 1's, the
   * same number on both ranks), the gradient norm without a pass of its own.
   *
   * `wantTurn` rides with the summed flags as well: afterwards turnAgreed is true on both ranks
   * when either wanted the event loop to run, so both take their turn after the same all-reduce.
   */
  async allReduceInPlace(buf: Float32Array, scale = 1, squaresOf?: number, wantTurn = false): Promise<bigint> {
    if (!this.holds(buf)) throw new Error('allReduceInPlace takes the buffer residentBuffer handed out');
    const me = this.rank;
    const peer = 1 - me;
    const at = this.residentAt as number;
    const theirs = this.halves[peer].subarray(at, at + buf.length);
    const seq = (this.seq = (this.seq + 1) | 0);
    const split = Math.min(buf.length, Math.ceil(buf.length / 2 / LINE_FLOATS) * LINE_FLOATS);
    const [lo, hi] = me === 0 ? [0, split] : [split, buf.length];
    // Our values are in place already: publishing is the counter alone.
    this.signal(published(me), seq);
    await undefined;
    const arrival = await this.waitFor(published(peer), seq, `publish all-reduce #${seq}`);
    // The peer set its length before it first published from its resident buffer.
    const theirLength = Atomics.load(this.counters, residentLength(peer));
    if (theirLength !== buf.length) {
      throw new RingtrainError(
        'SIZE_MISMATCH',
        `shared-memory all-reduce: this rank's buffer holds ${buf.length} floats, ${this.setup.peer}'s ${theirLength}: both ranks must train the same model`,
      );
    }
    this.lastSquares = undefined;
    const squares = this.sumPartToBoth(buf, theirs, lo, hi, scale, squaresOf);
    if (squares !== undefined) this.squares[partSquares(me)] = squares;
    Atomics.store(this.counters, turnWanted(me), wantTurn ? seq : ~seq);
    // Seq-cst: the peer that sees the flag sees our part's sums (in both halves) and squares.
    // We are done with its half too, which the copy path (allReduceSum) checks before staging.
    this.signal(summed(me), seq);
    this.signal(consumed(me), seq);
    await this.waitFor(summed(peer), seq, `sum its part of all-reduce #${seq}`);
    const both = (this.squares[partSquares(0)] as number) + (this.squares[partSquares(1)] as number);
    if (squares !== undefined && !Number.isNaN(both)) this.lastSquares = both;
    this.turn = wantTurn || Atomics.load(this.counters, turnWanted(peer)) === seq;
    return arrival;
  }

  /**
   * Whether either rank wanted an event-loop turn after the last allReduceInPlace: the same
   * answer on both. A turn taken by one rank alone stalls the other at the next all-reduce; taken
   * together, the pair pays for one instead of for each rank's.
   */
  get turnAgreed(): boolean {
    return this.turn;
  }

  /** The sum of squares of buf[0, squaresOf) after the last allReduceInPlace that asked for it. */
  get lastSumSquares(): number | undefined {
    return this.lastSquares;
  }

  /**
   * buf[lo, hi) = theirs[lo, hi) = (buf + theirs) * scale, each step rounded to float32. With
   * `squaresOf`, returns the sum of squares of the results below it (the addon's
   * addScaledSquares), or NaN without the addon: the peer then sees NaN too, and both ranks sum
   * the squares themselves.
   */
  private sumPartToBoth(
    buf: Float32Array,
    theirs: Float32Array,
    lo: number,
    hi: number,
    scale: number,
    squaresOf: number | undefined,
  ): number | undefined {
    if (this.addSquaresFromPeer !== undefined) {
      const upTo = squaresOf === undefined ? 0 : Math.max(0, Math.min(hi, squaresOf) - lo);
      const squares = this.addSquaresFromPeer(buf.subarray(lo, hi), theirs.subarray(lo, hi), scale, upTo, true);
      return squaresOf === undefined ? undefined : squares;
    }
    // Without the addon: a plain loop, with the same two roundings as addScaled.
    const f = Math.fround(scale);
    for (let i = lo; i < hi; i++) {
      const d = Math.fround(Math.fround((buf[i] as number) + (theirs[i] as number)) * f);
      buf[i] = d;
      theirs[i] = d;
    }
    return squaresOf === undefined ? undefined : NaN;
  }

  /** Sets counter `index` (seq-cst, so the values written before it are seen with it) and wakes a sleeping peer. */
  private signal(index: number, value: number): void {
    Atomics.store(this.counters, index, value);
    if (this.futex !== undefined && Atomics.load(this.counters, sleeping(1 - this.rank)) !== 0)
      this.futex.wake(this.counters, index);
  }

  /**
   * Sleeps on counter `index` for at most a slice unless it holds `value` already; false where
   * sleeping is not possible (no futex, or the peer is this very thread and must run to signal).
   * The sleeping flag is raised before the counter is read again, and signal() stores before it
   * reads the flag, so a signal is either seen here or wakes the sleep.
   */
  private sleepOn(index: number, value: number): boolean {
    if (this.futex === undefined) return false;
    if (this.peerElsewhere === undefined) {
      const o = owner(1 - this.rank);
      const [pid, thread] = [Atomics.load(this.counters, o), Atomics.load(this.counters, o + 1)];
      if (pid === 0) return false;
      this.peerElsewhere = pid !== process.pid || thread !== threadId;
    }
    if (!this.peerElsewhere) return false;
    Atomics.store(this.counters, sleeping(this.rank), 1);
    const current = Atomics.load(this.counters, index);
    if (current !== value) {
      const woken = this.futex.wait(this.counters, index, current, SLEEP_SLICE_MICROS) === 0;
      this.sleepStats.sleeps += 1;
      if (woken) this.sleepStats.woken += 1;
    }
    Atomics.store(this.counters, sleeping(this.rank), 0);
    return true;
  }

  /** Reads counter `index` up to SPIN_READS times; true as soon as it holds `value`. */
  private spinOnFlag(index: number, value: number): boolean {
    for (let i = 0; i < SPIN_READS; i++) if (Atomics.load(this.counters, index) === value) return true;
    return false;
  }

  /**
   * Waits until counter `index` holds `value`: polls memory for spinMs (no sleep, so no slow
   * wake-up), then sleeps on a futex the peer's signal ends (or, without one, polls between
   * event-loop turns), giving heartbeats and aborts a turn every few ms, until the deadline. The
   * error names the peer and what it did not do.
   */
  private async waitFor(index: number, value: number, what: string, spinMs = this.setup.spinMs): Promise<bigint> {
    const start = performance.now();
    // Spinning sees the peer soonest; past cluster.pollMicros a futex sleep frees the CPU, which
    // on a busy host the late peer may be waiting for (lower pollMicros there).
    const spinUntil = start + spinMs;
    let lastTurn = start;
    while (Atomics.load(this.counters, index) !== value) {
      // Many flag reads per clock read: the flag is seen sooner, and the spin makes less garbage.
      if (this.spinOnFlag(index, value)) break;
      const now = performance.now();
      if (now < spinUntil) continue;
      const why = this.setup.aborted();
      if (why !== undefined) throw why;
      if (now - start > this.setup.timeoutMs) {
        throw new RingtrainError(
          'TIMEOUT',
          `shared-memory all-reduce: ${this.setup.peer} did not ${what} within ${this.setup.timeoutMs} ms`,
        );
      }
      // Asleep on a futex the peer's signal wakes, the CPU is free for the peer on a busy host;
      // the event loop still gets a turn every few ms.
      if (this.sleepOn(index, value)) {
        if (now - lastTurn < LOOP_TURN_EVERY_MS) continue;
        lastTurn = now;
        await yieldToLoop();
      } else if (now - start < 20) await yieldToLoop();
      // After a few ms of waiting the peer is busy elsewhere (a checkpoint, a straggler): a timer
      // keeps this rank from holding its CPU at 100% for nothing.
      else await new Promise((resolve) => setTimeout(resolve, 1));
    }
    return process.hrtime.bigint();
  }
}
