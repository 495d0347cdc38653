/**
 * Payloads a transport sends in place (`borrowed` sends) until they have left the process: the
 * caller may not change that memory before flush() resolves. Shared by the TCP transport (a lent
 * block is written behind its header) and the gRPC one (encoded when grpc-js serializes it).
 */
import { RingtrainError } from '../core';

export class LentPayloads {
  private count = 0;
  /** Bumped by forget(): releases of an older ring's payloads no longer count. */
  private round = 0;
  /** Ranks that lent payloads are queued for, for the error when they never go out. */
  private readonly to = new Set<number>();
  private readonly waiters: (() => void)[] = [];

  constructor(
    private readonly timeoutMs: number,
    private readonly who: (rank: number) => string,
    /** What a peer failed to do with a stuck block, for the error: 'read' (a socket) or 'take' (a stream). */
    private readonly verb: string,
  ) {}

  /** One payload lent for `rank`; call the result once it has left (sent or failed). */
  lend(rank: number): () => void {
    this.count += 1;
    this.to.add(rank);
    const round = this.round;
    let released = false;
    return () => {
      if (released || round !== this.round) return;
      released = true;
      this.count -= 1;
      if (this.count > 0) return;
      this.to.clear();
      for (const w of this.waiters.splice(0)) w();
    };
  }

  /** Resolves once every lent payload has left; a peer that stopped reading makes it fail at the deadline. */
  flush(generation: number | string): Promise<void> {
    if (this.count <= 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(done), 1);
        const who = [...this.to].map((r) => this.who(r)).join(', ');
        reject(
          new RingtrainError(
            'TIMEOUT',
            `${who} did not ${this.verb} ${this.count} sent block(s) within ${this.timeoutMs} ms (generation ${generation}): is it stopped?`,
          ),
        );
      }, this.timeoutMs);
      this.waiters.push(done);
    });
  }

  /** The connections holding lent payloads are gone: nobody may wait on them any longer. */
  forget(): void {
    this.round += 1;
    this.count = 0;
    this.to.clear();
    for (const w of this.waiters.splice(0)) w();
  }
}
