/**
 * The sending side of the gRPC ring's Pull streams: each receiver opens a stream to this rank
 * per generation, and sends for that rank are written into it. A send that comes before the
 * receiver's stream (it is still attaching) waits for it, up to the collective deadline, and
 * the error then names the rank that never opened it.
 */
import { RingtrainError } from '../core';

/** A Pull stream as its sender sees it: messages go in, and it can be ended. */
export interface PullSink {
  /**
   * Writes one message: `head` (with its gRPC prefix), then `payload` from where it lies, if
   * given. `done` runs once both have left the process (the payload's memory may change again).
   */
  write(head: Buffer, payload: Uint8Array | undefined, done: (err?: Error) => void): void;
  /** Ends the stream with OK: its receiver sees a clean end. */
  end(): void;
}

/** One message for a Pull stream: its head (prefixed) and an optional payload sent in place. */
export interface PullMessageParts {
  head: Buffer;
  payload?: Uint8Array;
}

interface Outbound {
  generation: number;
  call: PullSink;
  /** Set once the receiver went away: later writes fail with it instead of vanishing. */
  closed?: RingtrainError;
}

interface Waiter {
  generation: number;
  resolve: (o: Outbound) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class OutboundStreams {
  private readonly streams = new Map<number, Outbound>();
  private readonly waiters = new Map<number, Waiter[]>();

  constructor(
    private readonly timeoutMs: number,
    private readonly describePeer: (rank: number) => string,
  ) {}

  /** A receiver opened its stream: it replaces that rank's older one, and waiting sends go. */
  add(rank: number, generation: number, call: PullSink): void {
    const old = this.streams.get(rank);
    if (old !== undefined && old.call !== call) old.call.end();
    const o: Outbound = { generation, call };
    this.streams.set(rank, o);
    const waiting = this.waiters.get(rank) ?? [];
    const still = waiting.filter((w) => {
      if (w.generation !== generation) return true;
      clearTimeout(w.timer);
      w.resolve(o);
      return false;
    });
    this.waiters.set(rank, still);
  }

  /** The receiver's stream ended or failed: sends to it from now on fail with `reason`. */
  drop(rank: number, call: PullSink, reason: RingtrainError): void {
    const o = this.streams.get(rank);
    if (o !== undefined && o.call === call) o.closed = reason;
  }

  /** Writes one message for `rank` of `generation`; resolves once it has left the process. */
  write(rank: number, generation: number, message: PullMessageParts): Promise<void> {
    const o = this.streams.get(rank);
    if (o !== undefined && o.generation === generation) return this.writeTo(o, message);
    return this.wait(rank, generation).then((w) => this.writeTo(w, message));
  }

  /** Ends every stream (their receivers see a clean end) and fails every waiting send. */
  closeAll(reason: RingtrainError): void {
    for (const o of this.streams.values()) o.call.end();
    this.streams.clear();
    for (const ws of this.waiters.values()) {
      for (const w of ws) {
        clearTimeout(w.timer);
        w.reject(reason);
      }
    }
    this.waiters.clear();
  }

  private writeTo(o: Outbound, message: PullMessageParts): Promise<void> {
    if (o.closed !== undefined) return Promise.reject(o.closed);
    return new Promise((resolve, reject) => {
      o.call.write(message.head, message.payload, (err?: Error) => {
        if (err === undefined) resolve();
        else reject(o.closed ?? new RingtrainError('UNAVAILABLE', `writing to the pull stream failed: ${err.message}`));
      });
    });
  }

  private wait(rank: number, generation: number): Promise<Outbound> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const ws = this.waiters.get(rank) ?? [];
        this.waiters.set(
          rank,
          ws.filter((w) => w.timer !== timer),
        );
        reject(
          new RingtrainError(
            'TIMEOUT',
            `${this.describePeer(rank)} did not open its pull stream for generation ${generation} within ${this.timeoutMs} ms: is it alive and in the same ring?`,
          ),
        );
      }, this.timeoutMs);
      const ws = this.waiters.get(rank) ?? [];
      ws.push({ generation, resolve, reject, timer });
      this.waiters.set(rank, ws);
    });
  }
}
