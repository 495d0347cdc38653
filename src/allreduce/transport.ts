/**
 * The seam between collective algorithms and the wire. Algorithms (ring all-reduce, broadcast,
 * barrier) only ever talk to their ring neighbours through this interface, so the same code runs
 * over the in-memory transport in unit tests and over gRPC or TCP in real jobs.
 */
import type { WireDtype } from './wire-dtype';

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
  /** Block within the chunk: chunks travel as pipelined blocks. */
  block: number;
}

/** What a payload holds: element count and wire encoding (checked by the receiver). */
export interface PayloadMeta {
  elements: number;
  dtype: WireDtype;
}

/** Who this transport speaks for, set once the coordinator has formed the ring. */
export interface RingIdentity {
  job: string;
  generation: number;
  rank: number;
  worldSize: number;
}

/** What a transport says about two ranks on one host that may sum through a shared file (shm-pair.ts). */
export interface SharedPairSetup {
  /** Size of the file: two halves of about half of it each. */
  bytes: number;
  /** Where the file is created; /dev/shm unless given. */
  dir?: string;
  /** How long a wait polls memory before it lets the event loop run between polls (ms). */
  spinMs: number;
  /** Deadline of one all-reduce (ms). */
  timeoutMs: number;
  /** The peer, as errors name it ("rank 1 at 127.0.0.1:4567"). */
  peer: string;
  /** Why the ring was torn down (job failed, generation replaced, peer gone), if it was. */
  aborted(): Error | undefined;
}

/**
 * What a transport that can reach any rank of its ring (not only its successor) offers a
 * hierarchical all-reduce: where every rank runs, and a same-host pair's shared file.
 */
export interface HostPairs {
  /** Every rank's host, as the ring's addresses name it (alike on every rank). */
  hosts: readonly string[];
  /** This rank's file shared with same-host `peer`; undefined = this rank declines (it may not poll). */
  setup(peer: number): SharedPairSetup | undefined;
}

export interface Transport {
  readonly identity: RingIdentity;
  /**
   * Sends `payload` to rank `to`. Resolves once the receiver has matched it to a posted receive of
   * the same key and size; rejects with a RingtrainError naming the peer, op and generation when
   * the receiver refuses it or does not answer before the collective deadline.
   */
  send(to: number, key: MessageKey, payload: Uint8Array, meta: PayloadMeta, borrowed?: boolean): Promise<void>;
  /**
   * With `borrowed` sends, resolves once every payload lent to `send` has left this process
   * (the caller may change that memory again). Transports that always copy need not have it.
   */
  flush?(): Promise<void>;
  /**
   * Receives the message with `key` from rank `from` into `out`, whose byte length is exactly what
   * `meta` implies. Rejects on timeout (naming `from`) or when sizes or encodings disagree.
   * The transport copies `payload` before `send` returns, so callers may reuse the memory, unless
   * the send was `borrowed`: then the transport may send it in place, and the caller leaves it
   * untouched until `flush()` resolves (saves a copy of every byte on stream transports).
   */
  recv(from: number, key: MessageKey, out: Uint8Array, meta: PayloadMeta): Promise<void>;
  /**
   * Called just before a collective awaits `recv(from, key, ...)`: a transport that can see the
   * message arrive without the event loop (shared memory) may wait for it here, synchronously
   * and for a bounded time, instead of letting the process sleep until a socket wakes it.
   */
  poll?(from: number, key: MessageKey): void;
  /**
   * Whether this ring could sum through a shared file at all, from facts every rank of it sees
   * alike (two ranks, both on this host, the job's shared-memory settings): only then do the
   * ranks spend a handshake on it, and they all take it or all skip it.
   */
  pairCandidate?(): boolean;
  /**
   * For a pair candidate: how this rank may sum through a shared file instead of messages
   * (Communicator asks once per ring). Undefined = this rank declines (it may not poll), and the
   * handshake tells the peer.
   */
  sharedPair?(): SharedPairSetup | undefined;
  /**
   * Undefined when this ring cannot sum hierarchically: the transport reaches only its
   * successor, or the job's settings allow no shared file (TLS, no size, no polling). Every rank
   * of a ring answers alike.
   */
  hostPairs?(): HostPairs | undefined;
  /** Tells the receive side which collective this rank is in, so older ones are refused as stale. */
  beginOp(opSeq: number): void;
  /**
   * When (process.hrtime.bigint()) the first message of collective `opSeq` arrived from a
   * neighbour, if one did; forgets it and older collectives. Splits communication time into
   * waiting for slower peers and the exchange itself.
   */
  takeFirstArrival(opSeq: number): bigint | undefined;
  /**
   * Fails every pending send/recv with `reason` (job failed, generation changed). With
   * `generation`, only if the transport still serves that generation: a late failure of an old
   * ring's send must not abort the new ring's receives.
   */
  abort(reason: Error, generation?: number): void;
  close(): Promise<void>;
}

export function describeKey(key: MessageKey): string {
  return `${key.op} #${key.opSeq} (bucket ${key.bucket}, step ${key.step}, chunk ${key.chunk}, block ${key.block})`;
}
