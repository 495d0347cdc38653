/**
 * Hierarchical all-reduce, as NCCL and Horovod do it across nodes: the two ranks of each host
 * first sum through a shared file (shm-pair.ts), then one rank per host (its lower rank, the
 * leader) all-reduces the host sums with the other hosts' leaders over the network, then each
 * leader hands the total to its host peer through the file again. Only the leaders cross the
 * link, each sending the buffer once (pair exchange) or 2(H-1)/H times (ring of H hosts),
 * where a flat ring of 2 ranks per host sends 2(N-1)/N of it on every link it crosses.
 *
 * Replicas stay bit-identical: both leaders of two hosts end with the same bits (pair and ring
 * all-reduces guarantee it), and the hand-over is a file all-reduce in which the non-leader
 * adds zeros, which leaves every value as it is (x + 0 = x) on both ranks. Sums differ from a
 * flat ring's only in the order of the additions (float rounding).
 */
import { scaleFloats } from '../core';
import { ringAllReduce, type RingOptions } from './allreduce-ring';
import { pairAllReduce } from './allreduce-pair';
import { ringBroadcast } from './broadcast-ring';
import { GroupTransport } from './group-transport';
import { hostGroups } from './host-groups';
import { OFFER_BYTES, SharedPair } from './shm-pair';
import type { HostPairs, Transport } from './transport';

/**
 * How long a host's second rank spins for the hand-over before it sleeps: it waits for a network
 * all-reduce, milliseconds away, and spinning through cluster.pollMicros (2 ms) takes a CPU that
 * the ranks on the wire may need.
 */
const HAND_OVER_SPIN_MS = 0.05;

export interface HierarchyOptions {
  /** The leaders' all-reduce options for bucket `b` (wire dtype, landing space, acks). */
  ring: (bucket: number) => RingOptions;
  /** Cap of one leader all-reduce, in elements (the Communicator's bucket). */
  bucketElements: number;
  /** Buckets up to this many elements go as one pair exchange between two hosts. */
  pairMaxElements: number;
}

export class HostHierarchy {
  /** Shared-file scratch for the copy path of the file (used only without the native addon). */
  private scratch: Float32Array | undefined;

  private constructor(
    /** The host's other rank, through the file; undefined = this rank is alone on its host. */
    private readonly pair: SharedPair | undefined,
    /** The leaders' ring, when this rank leads its host. */
    private readonly leaders: GroupTransport | undefined,
    readonly hosts: number,
  ) {}

  /** Whether this rank crosses the network for its host. */
  get leads(): boolean {
    return this.leaders !== undefined;
  }

  /**
   * Collective over the whole ring, every rank at the same point: each two-rank host's lower
   * rank offers a file (one broadcast per such host, every rank taking part), its peer maps it,
   * and all ranks vote; the hierarchy exists only when every rank could, so no rank ever
   * disagrees on the path. `next` numbers each collective of the handshake.
   */
  static async open(t: Transport, hp: HostPairs, next: () => number): Promise<HostHierarchy | undefined> {
    const { rank, worldSize } = t.identity;
    const groups = hostGroups(hp.hosts);
    const mine = groups.find((g) => g.includes(rank)) as number[];
    const local = mine.indexOf(rank);
    const broadcastAll = async (bytes: Uint8Array | undefined): Promise<void> => {
      for (const g of groups) {
        if (g.length !== 2) continue;
        const words =
          g === mine && bytes !== undefined
            ? new Float32Array(bytes.buffer, bytes.byteOffset, OFFER_BYTES / 4)
            : new Float32Array(OFFER_BYTES / 4);
        await ringBroadcast(t, words, next(), g[0]);
      }
    };
    const voteAll = async (yes: boolean): Promise<boolean> => {
      const votes = new Float32Array([yes ? 1 : 0]);
      await ringAllReduce(t, votes, next(), 0);
      return votes[0] === worldSize;
    };
    let pair: SharedPair | undefined;
    if (mine.length === 2) {
      const peer = mine[1 - local] as number;
      pair = await SharedPair.open(local, hp.setup(peer), { broadcast: broadcastAll, both: voteAll });
      if (pair === undefined) return undefined;
    } else {
      await broadcastAll(undefined);
      if (!(await voteAll(true))) return undefined;
    }
    const leaders = groups.map((g) => g[0] as number);
    return new HostHierarchy(pair, local === 0 ? new GroupTransport(t, leaders) : undefined, groups.length);
  }

  /**
   * Sums `buf` over every rank of the ring, times `scale`, in place. Resolves with the time the
   * first values of a peer arrived (see Communicator.lastFirstArrival).
   */
  async allReduce(buf: Float32Array, opSeq: number, scale: number, o: HierarchyOptions): Promise<bigint | undefined> {
    let arrival = await this.withPeer(buf, 1, false);
    if (this.leaders !== undefined) {
      const t = this.leaders;
      const running: Promise<void>[] = [];
      for (let b = 0, off = 0; off < buf.length; b++, off += o.bucketElements) {
        const bucket = buf.subarray(off, Math.min(buf.length, off + o.bucketElements));
        const pair = t.identity.worldSize === 2 && bucket.length <= o.pairMaxElements;
        const op = (pair ? pairAllReduce : ringAllReduce)(t, bucket, opSeq, b, o.ring(b));
        op.catch(() => undefined);
        running.push(op);
      }
      await Promise.all(running);
      arrival = t.takeFirstArrival(opSeq) ?? arrival;
    }
    if (this.pair !== undefined) await this.withPeer(buf, scale, this.leaders === undefined);
    else if (scale !== 1) scaleFloats(buf, scale);
    return arrival;
  }

  /**
   * A file all-reduce with the host's peer, piece by piece when `buf` exceeds the file; with
   * `zero`, this rank adds nothing (it only receives the leader's values).
   */
  private async withPeer(buf: Float32Array, scale: number, zero: boolean): Promise<bigint | undefined> {
    const pair = this.pair;
    if (pair === undefined) return undefined;
    if (zero) buf.fill(0);
    if (this.scratch === undefined || this.scratch.length < Math.min(buf.length, pair.capacity))
      this.scratch = new Float32Array(Math.min(buf.length, pair.capacity));
    let arrival: bigint | undefined;
    for (let off = 0; off < buf.length; off += pair.capacity) {
      const piece = buf.subarray(off, Math.min(buf.length, off + pair.capacity));
      const seen = await pair.allReduceSum(piece, this.scratch, scale, zero ? HAND_OVER_SPIN_MS : undefined);
      arrival ??= seen;
    }
    return arrival;
  }
}
