/**
 * A sub-ring of a ring: the transport seen by some of its ranks (one rank per host, in a
 * hierarchical all-reduce), numbered 0..k-1 in the order given. Messages go through the
 * ring's own transport to the members' ranks there, so keys, deadlines and refusals are the
 * ring's; the parent must be able to reach any rank (Transport.hostPairs says it can).
 */
import type { MessageKey, PayloadMeta, RingIdentity, Transport } from './transport';

export class GroupTransport implements Transport {
  readonly identity: RingIdentity;
  readonly poll?: (from: number, key: MessageKey) => void;

  constructor(
    private readonly parent: Transport,
    private readonly members: readonly number[],
  ) {
    const id = parent.identity;
    const rank = members.indexOf(id.rank);
    if (rank < 0) throw new Error(`rank ${id.rank} is not in the group ${members.join(',')}`);
    this.identity = { ...id, rank, worldSize: members.length };
    const poll = parent.poll?.bind(parent);
    if (poll !== undefined) this.poll = (from, key) => poll(this.global(from), key);
  }

  send(to: number, key: MessageKey, payload: Uint8Array, meta: PayloadMeta, borrowed?: boolean): Promise<void> {
    return this.parent.send(this.global(to), key, payload, meta, borrowed);
  }

  flush(): Promise<void> {
    return this.parent.flush?.() ?? Promise.resolve();
  }

  recv(from: number, key: MessageKey, out: Uint8Array, meta: PayloadMeta): Promise<void> {
    return this.parent.recv(this.global(from), key, out, meta);
  }

  /** The parent ring numbered the collective already (Communicator.next). */
  beginOp(): void {}

  takeFirstArrival(opSeq: number): bigint | undefined {
    return this.parent.takeFirstArrival(opSeq);
  }

  abort(reason: Error, generation?: number): void {
    this.parent.abort(reason, generation);
  }

  /** The parent's connections are the parent's to close. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  private global(rank: number): number {
    const g = this.members[rank];
    if (g === undefined) throw new Error(`no rank ${rank} in a group of ${this.members.length}`);
    return g;
  }
}
