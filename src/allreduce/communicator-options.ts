/**
 * What a Communicator is told (bucket and block sizes, wire encoding, algorithm, hierarchy) and
 * the size thresholds that pick its path for each all-reduce.
 */
import type { WireDtype } from './wire-dtype';

/** PyTorch DDP's default bucket cap (25 MB), in float32 elements. */
export const DEFAULT_BUCKET_ELEMENTS = Math.floor((25 * 1024 * 1024) / 4);

export interface CommunicatorOptions {
  /** Gradient bucket cap in float32 elements (DDP's default 25 MB). */
  bucketElements?: number;
  /** Pipelined block size in elements. */
  blockElements?: number;
  /** Wire encoding for all-reduce payloads (sums stay float32). */
  dtype?: WireDtype;
  /**
   * 'auto' (default): two same-host ranks that may poll sum through a shared file (shm-pair.ts),
   * other pairs exchange buckets up to PAIR_MAX_ELEMENTS in one round (allreduce-pair.ts),
   * everything else takes the ring; 'ring': always the ring.
   */
  algorithm?: 'auto' | 'ring';
  /**
   * 'auto' (default): with two ranks on each of several hosts, over a transport that reaches any
   * rank, ranks sum on their host through a shared file and one rank per host crosses the
   * network (allreduce-hierarchical.ts); 'flat': one ring over all ranks.
   */
  hierarchy?: 'auto' | 'flat';
  /**
   * Hears once whether the ring's two same-host ranks sum through a shared file (shm-pair.ts);
   * `sharedFile` is true when they do, so metrics can report the path the log names.
   */
  onNote?: (note: string, sharedFile?: boolean) => void;
}

export interface CollectiveStats {
  ops: number;
  bytesSent: number;
  /** All-reduces that went through the shared file of a same-host pair (shm-pair.ts). */
  sharedPairOps: number;
}

/**
 * Two ranks reduce buckets up to this many elements (4 MiB of float32) in one exchange rather
 * than the ring's two rounds: below it the wait for the peer dominates, above it the ring's
 * pipelined blocks do better (bench:allreduce measures both with --algorithm).
 */
export const PAIR_MAX_ELEMENTS = 1 << 20;

/** Buffers shorter than this always travel as float32, whatever the compression setting. */
export const EXACT_BELOW_ELEMENTS = 4096;
