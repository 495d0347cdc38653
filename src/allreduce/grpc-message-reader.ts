/**
 * Reads gRPC's length-prefixed messages (1 flag byte, 4-byte big-endian length, the message) out
 * of the DATA chunks of an HTTP/2 stream, as they come. A message's first bytes (its head) are
 * handed to a parser, which says where the rest goes: straight into a receive buffer this rank
 * already posted, into fresh memory, or nowhere. A 1 MiB chunk then crosses from the socket's
 * buffers into the all-reduce's buffer with one copy, instead of grpc-js's concatenation into a
 * new message followed by a second copy into place.
 */

/** Where the rest of a message goes, once its head has been parsed. */
export interface HeadPlan<T> {
  head: T;
  /** How many of the message's bytes the head took; the body is the rest. */
  headBytes: number;
  /** The body's destination (exactly its length); undefined = fresh memory; null = thrown away. */
  into: Uint8Array | undefined | null;
}

/**
 * Parses the head of a message of `messageBytes` bytes from its first `bytes`; undefined = needs
 * more (it is always called again with the whole message at the latest). Throws when malformed.
 */
export type HeadParser<T> = (bytes: Buffer, messageBytes: number) => HeadPlan<T> | undefined;

const PREFIX_BYTES = 5;
/** Head bytes offered to the parser per attempt: a chunk header is under 100 bytes. */
const HEAD_STEP = 256;

export class GrpcMessageReader<T> {
  private readonly prefix = Buffer.alloc(PREFIX_BYTES);
  private prefixHave = 0;
  private messageBytes = 0;
  /** The head so far (reused between messages; grows only for heads longer than HEAD_STEP). */
  private head = Buffer.alloc(HEAD_STEP);
  private headHave = 0;
  private plan: HeadPlan<T> | undefined;
  private body: Uint8Array | null = null;
  private bodyHave = 0;

  constructor(
    private readonly maxMessageBytes: number,
    private readonly parseHead: HeadParser<T>,
    private readonly onMessage: (head: T, body: Uint8Array) => void,
  ) {}

  /** Takes one DATA chunk; throws on a compressed or oversized message, or whatever parseHead throws. */
  push(data: Uint8Array): void {
    let at = 0;
    while (at < data.length) {
      if (this.prefixHave < PREFIX_BYTES) {
        const n = Math.min(PREFIX_BYTES - this.prefixHave, data.length - at);
        this.prefix.set(data.subarray(at, at + n), this.prefixHave);
        this.prefixHave += n;
        at += n;
        if (this.prefixHave === PREFIX_BYTES) this.startMessage();
        continue;
      }
      if (this.plan === undefined) {
        const n = Math.min(this.messageBytes - this.headHave, data.length - at, HEAD_STEP);
        if (this.headHave + n > this.head.length)
          this.head = Buffer.concat(
            [this.head.subarray(0, this.headHave)],
            Math.max(this.head.length * 2, this.headHave + n),
          );
        this.head.set(data.subarray(at, at + n), this.headHave);
        this.headHave += n;
        at += n;
        this.tryHead();
        continue;
      }
      const n = Math.min(this.messageBytes - this.plan.headBytes - this.bodyHave, data.length - at);
      if (this.body !== null) this.body.set(data.subarray(at, at + n), this.bodyHave);
      this.bodyHave += n;
      at += n;
      this.finishIfWhole();
    }
  }

  private startMessage(): void {
    if (this.prefix[0] !== 0) throw new Error('compressed gRPC messages are not accepted on the ring (flag byte set)');
    this.messageBytes = this.prefix.readUInt32BE(1);
    if (this.messageBytes > this.maxMessageBytes)
      throw new Error(`message of ${this.messageBytes} bytes is larger than the limit of ${this.maxMessageBytes}`);
    this.headHave = 0;
    this.plan = undefined;
    this.tryHead();
  }

  private tryHead(): void {
    const seen = this.head.subarray(0, this.headHave);
    const plan = this.parseHead(seen, this.messageBytes);
    if (plan === undefined) {
      if (this.headHave === this.messageBytes)
        throw new Error('the head parser refused a whole message without saying why');
      return;
    }
    const bodyBytes = this.messageBytes - plan.headBytes;
    if (plan.into !== undefined && plan.into !== null && plan.into.byteLength !== bodyBytes) {
      throw new Error(`a body of ${bodyBytes} bytes cannot go into ${plan.into.byteLength}`);
    }
    this.plan = plan;
    this.body = plan.into === undefined ? Buffer.allocUnsafe(bodyBytes) : plan.into;
    // Bytes read past the head already belong to the body.
    const early = seen.subarray(plan.headBytes);
    if (this.body !== null) this.body.set(early, 0);
    this.bodyHave = early.length;
    this.finishIfWhole();
  }

  private finishIfWhole(): void {
    const plan = this.plan;
    if (plan === undefined || plan.headBytes + this.bodyHave < this.messageBytes) return;
    const body = this.body ?? new Uint8Array(0);
    this.prefixHave = 0;
    this.plan = undefined;
    this.body = null;
    this.onMessage(plan.head, body);
  }
}
