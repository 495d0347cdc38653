/**
 * The seam between collective algorithms and the wire. Algorithms (ring all-reduce, broadcast,
 * barrier) only ever talk to their ring neighbours through this interface, so the same code runs
 * over the in-memory transport in unit tests and over gRPC in real jobs.
 */

/** Identity of one message inside one ring generation; both ends compute it independently. */
export interface MessageKey {
  /** Which collective: named in errors so a timeout says what was waiting. */
  op: 'allreduce' | 'broadcast' | 'barrier';
  /** Sequence number of the collective on this ring; every rank runs the same sequence. */
  opSeq: number;
  /** Gradient bucket index within the collective. */
  bucket: number;
  /** Algorithm step (reduce-scatter steps, then all-gather steps). */
  step: number;
  /** Chunk index within the bucket. */
  chunk: number;
}

/** Who this transport speaks for, set once the coordinator has formed the ring. */
export interface RingIdentity {
  job: string;
  generation: number;
  rank: number;
  worldSize: number;
}

export interface Transport {
  readonly identity: RingIdentity;
  /**
   * Sends `payload` to rank `to`. Resolves once the receiver has matched it to a posted receive of
   * the same key and size; rejects with a RingtrainError naming the peer, op and generation when
   * the receiver refuses it or does not answer before the collective deadline.
   */
  send(to: number, key: MessageKey, payload: Float32Array): Promise<void>;
  /**
   * Receives the message with `key` from rank `from` into `out`, whose length is the exact number
   * of elements expected. Rejects on timeout (naming `from`) or when the sizes disagree.
   */
  recv(from: number, key: MessageKey, out: Float32Array): Promise<void>;
  /** Tells the receive side which collective this rank is in, so older ones are refused as stale. */
  beginOp(opSeq: number): void;
  /** Fails every pending send/recv with `reason` (job failed, generation changed). */
  abort(reason: Error): void;
  close(): Promise<void>;
}

export function describeKey(key: MessageKey): string {
  return `${key.op} #${key.opSeq} (bucket ${key.bucket}, step ${key.step}, chunk ${key.chunk})`;
}
