/**
 * The receive side shared by every transport. A message may arrive before this rank has posted
 * the matching receive (its neighbour is a step ahead), so arrivals are parked until then; the
 * sender's call completes only when the match happens, which is also when the size can be
 * checked against what this rank expects. Both parked arrivals and posted receives have a
 * deadline, so nothing waits forever, and the error names the peer that did not answer.
 *
 * Refused at once: another job, another generation, no ring yet, a collective this rank has
 * already finished (a duplicate or stale op). Refused at match time: a wrong element count or
 * wire encoding.
 */
import { RingtrainError } from '../core';
import { describeKey, type MessageKey, type PayloadMeta, type RingIdentity } from './transport';
import { bytesPerElement, type WireDtype } from './wire-dtype';

export interface Arrival {
  job: string;
  generation: number;
  fromRank: number;
  key: MessageKey;
  elements: number;
  dtype: WireDtype;
  /** The encoded payload; copied out before deliver() settles. */
  bytes: Uint8Array;
}

interface Parked {
  arrival: Arrival;
  resolve: () => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

interface Posted {
  from: number;
  key: MessageKey;
  out: Uint8Array;
  meta: PayloadMeta;
  resolve: () => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

function slot(from: number, key: MessageKey): string {
  return `${from}/${key.opSeq}/${key.bucket}/${key.step}/${key.chunk}/${key.block}`;
}

export class Mailbox {
  private identity: RingIdentity | undefined;
  private currentOp = 0;
  private readonly parked = new Map<string, Parked>();
  private readonly posted = new Map<string, Posted>();
  /** When the first message of each collective arrived (hrtime ns), for the peer-wait split. */
  private readonly firstSeen = new Map<number, bigint>();
  /** The last abort, and the generation it ended (for waits that hold no posted receive). */
  private lastAbort: { reason: Error; generation: number | undefined } | undefined;

  constructor(
    private readonly job: string,
    private readonly timeoutMs: number,
    /** Describes a peer for error messages, e.g. "rank 1 at 127.0.0.1:4567". */
    private readonly describePeer: (rank: number) => string = (r) => `rank ${r}`,
  ) {}

  setIdentity(identity: RingIdentity): void {
    this.identity = identity;
    this.currentOp = 0;
  }

  get ring(): RingIdentity | undefined {
    return this.identity;
  }

  beginOp(opSeq: number): void {
    this.currentOp = opSeq;
  }

  /**
   * When the first message of collective `opSeq` from any neighbour was seen (its header, on
   * stream transports that read payloads in place; the whole message otherwise). Forgets that
   * collective and every older one.
   */
  takeFirstArrival(opSeq: number): bigint | undefined {
    const at = this.firstSeen.get(opSeq);
    for (const op of this.firstSeen.keys()) if (op <= opSeq) this.firstSeen.delete(op);
    return at;
  }

  /** Called by the transport for each incoming message; settles when matched or refused. */
  deliver(a: Arrival): Promise<void> {
    const refusal = this.check(a, a.bytes.byteLength);
    if (refusal !== undefined) return Promise.reject(refusal);
    const id = slot(a.fromRank, a.key);
    const waiting = this.posted.get(id);
    if (waiting !== undefined) return this.match(id, a, waiting);
    if (this.parked.has(id)) {
      return Promise.reject(
        new RingtrainError('PEER_REFUSED', `duplicate message ${describeKey(a.key)} from rank ${a.fromRank}`),
      );
    }
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.parked.delete(id);
        reject(
          new RingtrainError(
            'TIMEOUT',
            `rank ${this.identity?.rank ?? '?'} never asked for ${describeKey(a.key)} within ${this.timeoutMs} ms ` +
              `(generation ${a.generation}): is it stuck in an earlier collective?`,
          ),
        );
      }, this.timeoutMs);
      this.parked.set(id, { arrival: a, resolve, reject, timer });
    });
  }

  /** Posts a receive; resolves once the matching message has been copied into `out`. */
  expect(from: number, key: MessageKey, out: Uint8Array, meta: PayloadMeta): Promise<void> {
    const id = slot(from, key);
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.posted.delete(id);
        reject(
          new RingtrainError(
            'TIMEOUT',
            `${describeKey(key)} timed out after ${this.timeoutMs} ms waiting for ${this.describePeer(from)} ` +
              `(generation ${this.identity?.generation ?? '?'}): is that worker alive and running the same job?`,
          ),
        );
      }, this.timeoutMs);
      const p: Posted = { from, key, out, meta, resolve, reject, timer };
      const early = this.parked.get(id);
      if (early !== undefined) {
        this.parked.delete(id);
        clearTimeout(early.timer);
        this.match(id, early.arrival, p).then(early.resolve, early.reject);
        return;
      }
      this.posted.set(id, p);
    });
  }

  /**
   * The posted receive for a message, if any: a stream transport can then read the payload
   * straight into its destination instead of parking a copy.
   */
  postedFor(from: number, key: MessageKey): Uint8Array | undefined {
    return this.posted.get(slot(from, key))?.out;
  }

  abort(reason: Error, generation?: number): void {
    if (generation !== undefined && this.identity !== undefined && generation !== this.identity.generation) return;
    this.lastAbort = { reason, generation: this.identity?.generation };
    for (const p of this.posted.values()) {
      clearTimeout(p.timer);
      p.reject(reason);
    }
    for (const p of this.parked.values()) {
      clearTimeout(p.timer);
      p.reject(reason);
    }
    this.posted.clear();
    this.parked.clear();
    this.firstSeen.clear();
  }

  /** Why generation `generation` was aborted, if it was (shm-pair.ts polls this while it waits). */
  abortedIn(generation: number): Error | undefined {
    const a = this.lastAbort;
    return a !== undefined && (a.generation === undefined || a.generation === generation) ? a.reason : undefined;
  }

  /**
   * Refusal for an arrival that can never match, checked before any payload is kept. An arrival
   * that passes and is its collective's first is noted for takeFirstArrival (every transport
   * calls this as a message comes in, so it is where arrivals are seen earliest). With
   * `payloadBytes` (known from a header before the payload is read), its size is checked too.
   */
  check(a: Omit<Arrival, 'bytes'>, payloadBytes?: number): RingtrainError | undefined {
    const me = this.identity;
    if (a.job !== this.job) {
      return new RingtrainError('PEER_REFUSED', `message for job '${a.job}' reached a worker of job '${this.job}'`);
    }
    if (me === undefined) {
      return new RingtrainError(
        'STALE_GENERATION',
        `this worker has not joined a ring yet (message of generation ${a.generation})`,
      );
    }
    if (a.generation !== me.generation) {
      return new RingtrainError(
        'STALE_GENERATION',
        `message from rank ${a.fromRank} is for generation ${a.generation}, this ring is generation ${me.generation}`,
      );
    }
    if (a.fromRank >= me.worldSize) {
      return new RingtrainError('PEER_REFUSED', `unknown sender rank ${a.fromRank} (world size ${me.worldSize})`);
    }
    if (a.key.opSeq < this.currentOp) {
      return new RingtrainError(
        'PEER_REFUSED',
        `${describeKey(a.key)} from rank ${a.fromRank} is stale: rank ${me.rank} is already at collective #${this.currentOp}`,
      );
    }
    if (payloadBytes !== undefined && payloadBytes !== a.elements * bytesPerElement(a.dtype)) {
      return new RingtrainError(
        'SIZE_MISMATCH',
        `${describeKey(a.key)} from rank ${a.fromRank} declares ${a.elements} ${a.dtype} elements but carries ${payloadBytes} bytes`,
      );
    }
    if (!this.firstSeen.has(a.key.opSeq)) this.firstSeen.set(a.key.opSeq, process.hrtime.bigint());
    return undefined;
  }

  private match(id: string, a: Arrival, p: Posted): Promise<void> {
    this.posted.delete(id);
    clearTimeout(p.timer);
    const me = this.identity?.rank ?? '?';
    let err: RingtrainError | undefined;
    if (a.dtype !== p.meta.dtype) {
      err = new RingtrainError(
        'SIZE_MISMATCH',
        `rank ${a.fromRank} sends ${a.dtype} on the wire, rank ${me} expects ${p.meta.dtype}: give every worker the same compression setting`,
      );
    } else if (a.elements !== p.meta.elements) {
      err = new RingtrainError(
        'SIZE_MISMATCH',
        `rank ${a.fromRank} sent ${a.elements} float32 for ${describeKey(a.key)}, rank ${me} ` +
          `expected ${p.meta.elements}: are all workers running the same model?`,
      );
    }
    if (err !== undefined) {
      p.reject(err);
      return Promise.reject(err);
    }
    if (a.bytes !== p.out) p.out.set(a.bytes);
    p.resolve();
    return Promise.resolve();
  }
}
