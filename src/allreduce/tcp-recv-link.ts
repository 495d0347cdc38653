/**
 * The receiving end of a rank's TCP ring link: it dials the predecessor, says HELLO, and reads
 * the predecessor's DATA frames with one reusable buffer, copying each payload once, straight
 * into the posted receive when there is one (the kernel writes it there with `onread`).
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { TlsFiles } from '../config';
import { RingtrainError } from '../core';
import type { Mailbox } from './mailbox';
import { splitAddress } from './shm-segment';
import type { SharedLinks } from './tcp-shared-links';
import { FrameReader, FrameType, controlFrame, type Frame } from './tcp-frame';
import type { FrameDelivery } from './tcp-delivery';
import { helloText } from './tcp-hello';
import type { RingIdentity } from './transport';

/** Read buffer of each receiving socket between payloads, reused for every read. */
const READ_BUFFER_BYTES = 4 * 1024 * 1024;

/** What the link needs of its transport. */
export interface RecvLinkContext {
  job: string;
  token: string | undefined;
  tls: TlsFiles | undefined;
  timeoutMs: number;
  identity: RingIdentity;
  mailbox: Mailbox;
  shared: SharedLinks;
  delivery: FrameDelivery;
  who(rank: number): string;
  /** Runs `fn` on the socket's bytes; garbage drops the connection instead of throwing. */
  guard(socket: net.Socket, fn: () => void): boolean;
  /** Whether `socket` is still this rank's receiving socket (not closed, not an old ring's). */
  stillReading(socket: net.Socket): boolean;
}

export class RecvLink {
  readonly socket: net.Socket;
  /** Resolves once the predecessor has answered the HELLO; rejects naming who did not, or why. */
  readonly ready: Promise<void>;
  private greeted = false;
  /** Refusals of DATA frames whose header failed the mailbox's check, by message id. */
  private readonly refused = new Map<number, RingtrainError>();
  private settle: { resolve: () => void; reject: (e: Error) => void } = {
    resolve: () => undefined,
    reject: () => undefined,
  };
  private readonly deadline: NodeJS.Timeout;

  constructor(
    private readonly ctx: RecvLinkContext,
    private readonly prev: number,
    address: string,
  ) {
    this.ready = new Promise<void>((resolve, reject) => (this.settle = { resolve, reject }));
    const reader = new FrameReader(
      (f) => this.target(f),
      (f, body) => this.onFrame(f, body),
    );
    const { host, port } = splitAddress(address);
    this.socket = this.connect(host, port, reader);
    this.deadline = setTimeout(() => {
      this.socket.destroy();
      this.fail(
        new RingtrainError('TIMEOUT', `${ctx.who(prev)} did not accept the ring connection within ${ctx.timeoutMs} ms`),
      );
    }, ctx.timeoutMs);
    const { generation, rank } = ctx.identity;
    this.socket.on(ctx.tls === undefined ? 'connect' : 'secureConnect', () =>
      this.socket.write(controlFrame(FrameType.Hello, { generation, fromRank: rank }, helloText(ctx.job, ctx.token))),
    );
    this.socket.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(this.deadline);
      this.fail(
        new RingtrainError('UNAVAILABLE', `cannot reach ${ctx.who(prev)} for ring traffic (${e.code ?? e.message})`),
      );
    });
    this.socket.on('close', () => {
      if (!this.greeted || !ctx.stillReading(this.socket)) return;
      const why = `${ctx.who(prev)} closed the ring connection (generation ${generation}): did it die?`;
      ctx.mailbox.abort(new RingtrainError('UNAVAILABLE', why));
    });
  }

  private fail(e: Error): void {
    if (!this.greeted) this.settle.reject(e);
  }

  private connect(host: string, port: number, reader: FrameReader): net.Socket {
    const files = this.ctx.tls;
    if (files !== undefined) {
      const servername = net.isIP(host) ? undefined : host;
      const socket = tls.connect({ host, port, ca: files.ca, cert: files.cert, key: files.key, servername });
      socket.setNoDelay(true);
      socket.on('data', (d: Buffer) => this.ctx.guard(socket, () => reader.push(d)));
      return socket;
    }
    const spare = Buffer.allocUnsafe(READ_BUFFER_BYTES);
    const socket: net.Socket = net.connect({
      host,
      port,
      noDelay: true,
      onread: {
        // Asked before every read: payloads land in their posted receive, no copy.
        buffer: () => reader.readTarget(spare),
        callback: (n: number, buf: Uint8Array): boolean =>
          this.ctx.guard(socket, () => reader.push(buf.subarray(0, n))),
      },
    });
    return socket;
  }

  /** Where a frame's body goes: a DATA payload into its posted receive; anything else is copied. */
  private target(f: Frame): Uint8Array | undefined {
    if (f.type !== FrameType.Data) return undefined;
    const key = { op: f.op, ...f.key };
    const arrival = {
      job: this.ctx.job,
      generation: f.generation,
      fromRank: f.fromRank,
      key,
      elements: f.elements,
      dtype: f.dtype,
    };
    const refusal = this.ctx.mailbox.check(arrival, f.length);
    if (refusal !== undefined) {
      this.refused.set(f.msgId, refusal);
      return undefined;
    }
    return this.ctx.mailbox.postedFor(f.fromRank, key);
  }

  private onFrame(f: Frame, body: Uint8Array): void {
    const { ctx, socket } = this;
    if (f.type === FrameType.Hello) {
      this.greeted = true;
      clearTimeout(this.deadline);
      // The predecessor may offer its segment in this answer: map it and say how it went.
      const answer = ctx.shared.accept(Buffer.from(body).toString('utf8'));
      if (answer !== undefined) socket.write(controlFrame(FrameType.SharedReply, { generation: f.generation }, answer));
      this.settle.resolve();
    } else if (f.type === FrameType.Nack) {
      clearTimeout(this.deadline);
      socket.destroy();
      const text = Buffer.from(body).toString('utf8');
      this.fail(new RingtrainError('PEER_REFUSED', `${ctx.who(this.prev)} refused the ring connection: ${text}`));
    } else if (f.type === FrameType.SharedKick) {
      ctx.delivery.drainShared(socket);
    } else if (f.type === FrameType.Data || f.type === FrameType.DataShared) {
      const refusal = this.refused.get(f.msgId);
      this.refused.delete(f.msgId);
      ctx.delivery.data(socket, f, body, refusal);
    }
  }
}
