/**
 * In-process transport for unit tests: N endpoints share a hub, and a send is handed straight to
 * the receiver's mailbox. It exercises exactly the matching, size and generation checks the gRPC
 * transport uses, without sockets.
 */
import { RingtrainError } from '../core';
import { Mailbox } from './mailbox';
import type { MessageKey, PayloadMeta, RingIdentity, Transport } from './transport';

export class MemoryHub {
  readonly mailboxes: Mailbox[] = [];
  constructor(
    readonly job: string,
    readonly worldSize: number,
    readonly timeoutMs = 5_000,
    readonly generation = 1,
  ) {
    for (let r = 0; r < worldSize; r++) {
      const m = new Mailbox(job, timeoutMs);
      m.setIdentity({ job, generation, rank: r, worldSize });
      this.mailboxes.push(m);
    }
  }

  endpoints(): MemoryTransport[] {
    return this.mailboxes.map((_, r) => new MemoryTransport(this, r));
  }
}

export class MemoryTransport implements Transport {
  readonly identity: RingIdentity;
  constructor(
    private readonly hub: MemoryHub,
    rank: number,
  ) {
    this.identity = { job: hub.job, generation: hub.generation, rank, worldSize: hub.worldSize };
  }

  send(to: number, key: MessageKey, payload: Uint8Array, meta: PayloadMeta): Promise<void> {
    const box = this.hub.mailboxes[to];
    if (box === undefined) return Promise.reject(new RingtrainError('PEER_REFUSED', `no rank ${to} in this hub`));
    // Copy: the real wire copies too, and it keeps the sender free to reuse its buffer.
    const bytes = payload.slice();
    return box.deliver({
      job: this.identity.job,
      generation: this.identity.generation,
      fromRank: this.identity.rank,
      key,
      elements: meta.elements,
      dtype: meta.dtype,
      bytes,
    });
  }

  recv(from: number, key: MessageKey, out: Uint8Array, meta: PayloadMeta): Promise<void> {
    return this.mailbox().expect(from, key, out, meta);
  }

  beginOp(opSeq: number): void {
    this.mailbox().beginOp(opSeq);
  }

  takeFirstArrival(opSeq: number): bigint | undefined {
    return this.mailbox().takeFirstArrival(opSeq);
  }

  abort(reason: Error, generation?: number): void {
    this.mailbox().abort(reason, generation);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private mailbox(): Mailbox {
    const m = this.hub.mailboxes[this.identity.rank];
    if (m === undefined) throw new Error(`no mailbox for rank ${this.identity.rank}`);
    return m;
  }
}
