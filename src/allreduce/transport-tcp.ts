/**
 * The socket data plane (`transport: tcp`): framed messages over plain TCP, because in Node the
 * gRPC path (http2's 16 KiB DATA frames, grpc-js's copies) tops out well below what loopback and
 * real NICs carry. Same contract as the gRPC transport: a send completes when the receiver has
 * matched the message to a posted receive (ACK) or refused it (NACK with the reason).
 *
 * Topology: every rank listens; each rank dials the rank it *receives* from (its ring
 * predecessor) and says HELLO (job, generation, rank). Data then flows down the accepted socket
 * to the dialer, whose client socket reads with `onread` into one reusable buffer and copies each
 * payload once, straight into the posted receive when there is one. ACK/NACK frames flow back
 * the other way.
 *
 * Same-host neighbours skip the socket for payloads: the sender offers a shared-memory segment
 * in its HELLO answer, and once the receiver has mapped it, payloads go through it and only a
 * small DATA_SHARED frame goes down the socket (shm-segment.ts). Not under TLS: there every byte
 * goes through TLS, as configured. The frame itself is also queued in the segment
 * (shm-frame-queue.ts), so a rank waiting for its predecessor can poll memory instead of sleeping
 * until the socket wakes it (poll(); the socket then carries only a kick). This file keeps the
 * connections and the send side; tcp-recv-link.ts dials and reads the predecessor, tcp-hello.ts
 * checks who is dialing, and tcp-delivery.ts takes incoming data frames to the mailbox.
 */
import * as net from 'node:net';
import * as os from 'node:os';
import { performance } from 'node:perf_hooks';
import * as tls from 'node:tls';
import type { TlsFiles } from '../config';
import { RingtrainError } from '../core';
import { Mailbox } from './mailbox';
import { LentPayloads } from './lent-payloads';
import { sameHostRanks } from './shm-segment';
import { pairCandidate, sharedPairSetup, type PairConditions } from './shared-pair-setup';
import { SHARED_MIN_BYTES, SharedLinks, pollsHere, type TcpSharedMemory } from './tcp-shared-links';
import { FrameReader, FrameType, controlFrame, dataFrame, sharedDataFrame, type Frame } from './tcp-frame';
import { FrameDelivery } from './tcp-delivery';
import { checkStranger, credentialsRefusal, helloRefusal } from './tcp-hello';
import { RecvLink, type RecvLinkContext } from './tcp-recv-link';
import {
  describeKey,
  type MessageKey,
  type PayloadMeta,
  type RingIdentity,
  type SharedPairSetup,
  type Transport,
} from './transport';

export type { TcpSharedMemory } from './tcp-shared-links';
/** poll() waits on shared memory only while at most this many of our sends await their ACK. */
const POLL_MAX_PENDING = 4;

interface PendingSend {
  to: number;
  key: MessageKey;
  resolve: () => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  /** Frees the payload's region of the shared segment once the receiver has answered. */
  release?: () => void;
}

export class TcpTransport implements Transport {
  readonly mailbox: Mailbox;
  private ring: RingIdentity | undefined;
  private addresses: string[] = [];
  private server: net.Server | undefined;
  private readonly accepted = new Set<net.Socket>();
  private readonly sendSockets = new Map<number, net.Socket>();
  private readonly socketWaiters = new Map<number, ((s: net.Socket | Error) => void)[]>();
  private recvSocket: net.Socket | undefined;
  private readonly pending = new Map<number, PendingSend>();
  /** HELLOs of a generation this rank has not attached to yet, answered on attach. */
  private readonly earlyHellos: (() => void)[] = [];
  private nextMsgId = 1;
  /** Lent payloads still queued on a socket. */
  private readonly lent: LentPayloads;
  private readonly shared: SharedLinks;
  /** What happens to the predecessor's data frames, from the socket or the shared frame queue. */
  private readonly delivery: FrameDelivery;
  /** How long poll() may wait on the shared frame queue, in ms (0 = never). */
  private readonly pollMs: number;
  /** Whether this ring may poll (pollsHere), and the kick that follows a queued frame (one per ring). */
  private pollRing = false;
  private kick: Buffer = Buffer.alloc(0);
  private readonly ownCpus: boolean;
  private closed = false;

  constructor(
    readonly job: string,
    private readonly timeoutMs: number,
    /** Join token the dialer must present in its HELLO; undefined = no check. */
    private readonly token?: string,
    private readonly onRefused?: (reason: string) => void,
    /** TLS (or mTLS) around every ring connection; undefined = plain TCP. */
    private readonly tls?: TlsFiles,
    private readonly sharedOptions: TcpSharedMemory = { bytes: 0 },
  ) {
    const who = (r: number): string => this.who(r);
    this.mailbox = new Mailbox(job, timeoutMs, who);
    this.lent = new LentPayloads(timeoutMs, who, 'read');
    this.shared = new SharedLinks(sharedOptions, tls !== undefined, who);
    this.delivery = new FrameDelivery(job, this.mailbox, this.shared);
    this.pollMs = (sharedOptions.pollMicros ?? 0) / 1000;
    this.ownCpus = sharedOptions.ownCpus === true;
  }

  get identity(): RingIdentity {
    if (this.ring === undefined) throw new Error('TcpTransport used before attach()');
    return this.ring;
  }

  async listen(host: string, port: number): Promise<number> {
    const server: net.Server =
      this.tls === undefined
        ? net.createServer({ noDelay: true }, (s) => this.onAccept(s))
        : tls.createServer(
            {
              cert: this.tls.cert,
              key: this.tls.key,
              ca: this.tls.ca,
              requestCert: this.tls.mutual,
              rejectUnauthorized: this.tls.mutual,
            },
            (s) => this.onAccept(s),
          );
    server.on('tlsClientError', (e: Error) => this.onRefused?.(`TLS handshake refused: ${e.message}`));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) =>
        reject(
          new RingtrainError(
            'ADDRESS_IN_USE',
            `cannot listen for ring traffic on ${host}:${port} (${e.code ?? e.message}): pick a free port or 0`,
          ),
        ),
      );
      server.listen(port, host, () => resolve());
    });
    this.server = server;
    return (server.address() as net.AddressInfo).port;
  }

  /** Joins the ring the coordinator formed: dials the predecessor and waits for its HELLO. */
  async attach(identity: RingIdentity, peerAddresses: string[]): Promise<void> {
    if (this.ring !== undefined)
      this.dropRing(
        new RingtrainError(
          'STALE_GENERATION',
          `ring generation ${this.ring.generation} replaced by generation ${identity.generation}`,
        ),
      );
    this.ring = identity;
    this.addresses = peerAddresses;
    this.mailbox.setIdentity(identity);
    this.pollRing = this.pollMs > 0 && pollsHere(sameHostRanks(peerAddresses), os.availableParallelism(), this.ownCpus);
    this.kick = controlFrame(FrameType.SharedKick, { generation: identity.generation }, '');
    // Neighbours that attached first may already have dialed us: answer them now.
    const early = this.earlyHellos.splice(0);
    for (const h of early) h();
    if (identity.worldSize === 1) return;
    const prev = (identity.rank - 1 + identity.worldSize) % identity.worldSize;
    const link = new RecvLink(this.recvContext(), prev, this.addresses[prev] ?? '');
    this.recvSocket = link.socket;
    await link.ready;
  }

  send(to: number, key: MessageKey, payload: Uint8Array, meta: PayloadMeta, borrowed = false): Promise<void> {
    const msgId = this.nextMsgId++;
    const frame = {
      dtype: meta.dtype,
      op: key.op,
      nackCode: 'PEER_REFUSED' as const,
      generation: this.identity.generation,
      key,
      fromRank: this.identity.rank,
      elements: meta.elements,
      msgId,
    };
    // Copied into a same-host successor's segment now (so the caller may reuse its memory); the
    // socket carries only where it lies. Written before the frame, and a socket write is a full barrier.
    const staged = this.shared.stage(to, payload);
    let buf: Buffer;
    if (staged !== undefined) {
      buf = sharedDataFrame(frame, staged.offset, payload.byteLength);
      borrowed = false;
      // Queued in the segment, where a polling successor finds it at once; the socket then
      // carries only a kick, for a successor that sleeps.
      if (this.shared.publish(to, buf)) buf = this.kick;
    } else {
      // A lent payload goes out as its own write behind the header (no copy); otherwise both go
      // into one fresh buffer, so the caller may reuse its memory at once.
      buf = dataFrame(frame, payload, borrowed);
    }
    const lent = borrowed && payload.byteLength > 0;
    // A socket dropped with the ring settles its writes later: they do not count against the
    // lent payloads of the ring that replaced it (LentPayloads.forget starts a new count).
    const written = lent ? this.lent.lend(to) : (): void => undefined;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        // A shared region stays taken: the receiver may still read it.
        this.pending.delete(msgId);
        reject(
          new RingtrainError(
            'TIMEOUT',
            `${this.where(key)}: ${this.who(to)} did not take the chunk within ${this.timeoutMs} ms`,
          ),
        );
      }, this.timeoutMs);
      this.pending.set(msgId, { to, key, resolve, reject, timer, release: staged?.release });
      this.socketTo(to).then(
        (s) => {
          if (!lent) {
            s.write(buf);
            return;
          }
          s.cork();
          s.write(buf);
          // Called on success and on failure alike: either way the payload is no longer needed.
          s.write(payload, () => written());
          s.uncork();
        },
        (e: Error) => {
          written();
          this.settle(msgId, e);
        },
      );
    });
  }

  flush(): Promise<void> {
    // A peer that stopped reading (SIGSTOP) leaves our writes queued: bounded like any wait.
    return this.lent.flush(this.ring?.generation ?? '?');
  }

  recv(from: number, key: MessageKey, out: Uint8Array, meta: PayloadMeta): Promise<void> {
    return this.mailbox.expect(from, key, out, meta);
  }

  /**
   * Waits for the message (from, key) by polling the predecessor's shared frame queue, for at
   * most `pollMicros`; returns at once when it is matched already, when there is no shared
   * segment, or when the payload is too small to come that way. Blocks the event loop while it
   * polls, which is what a rank with nothing else to do wants: no sleep, so no wake-up.
   */
  poll(from: number, key: MessageKey): void {
    const socket = this.recvSocket;
    // While it polls, this rank reads no ACKs, so the regions its own payloads hold in the
    // successor's segment are not freed: a rank with many sends in flight (a large pipelined
    // all-reduce, bandwidth-bound anyway) would run out of segment and fall back to the socket.
    if (!this.pollRing || socket === undefined || !this.shared.pollable || this.pending.size > POLL_MAX_PENDING) return;
    const out = this.mailbox.postedFor(from, key);
    if (out === undefined || out.byteLength < SHARED_MIN_BYTES) return;
    const until = performance.now() + this.pollMs;
    while (this.shared.awaitFrame(until)) {
      this.guard(socket, () => this.delivery.drainShared(socket));
      if (this.mailbox.postedFor(from, key) === undefined) return;
    }
  }

  /** Whether this ring may have a same-host pair's shared file (shared-pair-setup.ts). */
  pairCandidate(): boolean {
    const c = this.pairConditions();
    return c !== undefined && pairCandidate(c);
  }

  sharedPair(): SharedPairSetup | undefined {
    const c = this.pairConditions();
    return c === undefined ? undefined : sharedPairSetup(c);
  }

  /** What decides a same-host pair's shared file (shared-pair-setup.ts); undefined before attach. */
  private pairConditions(): PairConditions | undefined {
    if (this.ring === undefined) return undefined;
    const o = this.sharedOptions;
    return {
      ring: this.ring,
      addresses: this.addresses,
      bytes: o.bytes,
      dir: o.dir,
      pollMicros: o.pollMicros ?? 0,
      ownCpus: this.ownCpus,
      tls: this.tls !== undefined,
      timeoutMs: this.timeoutMs,
      who: (r) => this.who(r),
      abortedIn: (g) => this.mailbox.abortedIn(g),
    };
  }

  beginOp(opSeq: number): void {
    this.mailbox.beginOp(opSeq);
  }

  takeFirstArrival(opSeq: number): bigint | undefined {
    return this.mailbox.takeFirstArrival(opSeq);
  }

  abort(reason: Error, generation?: number): void {
    this.mailbox.abort(reason, generation);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = new RingtrainError('ABORTED', 'ring transport closed');
    this.mailbox.abort(err);
    this.lent.forget();
    this.shared.forget();
    for (const id of [...this.pending.keys()]) this.settle(id, err);
    for (const waiters of this.socketWaiters.values()) for (const w of waiters) w(err);
    this.socketWaiters.clear();
    this.recvSocket?.destroy();
    for (const s of this.accepted) s.destroy();
    const server = this.server;
    this.server = undefined;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Whether this rank polls shared memory for its predecessor's messages (see poll()). */
  get polling(): boolean {
    return this.pollRing && this.shared.pollable;
  }

  /** Neighbours whose payloads go through shared memory: the ranks sent to, and whether the predecessor's is mapped. */
  get sharedMemory(): { to: number[]; from: boolean } {
    return this.shared.state;
  }

  private recvContext(): RecvLinkContext {
    return {
      job: this.job,
      token: this.token,
      tls: this.tls,
      timeoutMs: this.timeoutMs,
      identity: this.identity,
      mailbox: this.mailbox,
      shared: this.shared,
      delivery: this.delivery,
      who: (rank) => this.who(rank),
      guard: (socket, fn) => this.guard(socket, fn),
      stillReading: (socket) => !this.closed && this.recvSocket === socket,
    };
  }

  private who(rank: number): string {
    return `rank ${rank} at ${this.addresses[rank] ?? '?'}`;
  }

  private where(key: MessageKey): string {
    return `${describeKey(key)}, generation ${this.ring?.generation ?? '?'}`;
  }

  private settle(msgId: number, err?: Error): void {
    const p = this.pending.get(msgId);
    if (p === undefined) return;
    this.pending.delete(msgId);
    clearTimeout(p.timer);
    // Answered (ACK or NACK) or its ring is gone: the receiver no longer reads the region.
    p.release?.();
    if (err === undefined) p.resolve();
    else p.reject(err);
  }

  private socketTo(rank: number): Promise<net.Socket> {
    const s = this.sendSockets.get(rank);
    if (s !== undefined) return Promise.resolve(s);
    return new Promise((resolve, reject) => {
      const list = this.socketWaiters.get(rank) ?? [];
      list.push((v) => (v instanceof Error ? reject(v) : resolve(v)));
      this.socketWaiters.set(rank, list);
    });
  }

  /**
   * Accepted sockets carry HELLO, then ACK/NACK for our sends; we write DATA down them. Until its
   * HELLO has passed checkHello (token, job, generation, rank), a connection is a stranger: any
   * other frame, a HELLO too large to be one, or bytes that are not frames drop that connection
   * and are counted, and nothing it sent reaches the ring.
   */
  private onAccept(socket: net.Socket): void {
    socket.setNoDelay(true);
    this.accepted.add(socket);
    let peer = -1;
    // Read now: once the stranger has closed, the socket no longer knows who it was.
    const from = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    const reader = new FrameReader(
      (f) => checkStranger(f, peer >= 0),
      (f, body) => {
        if (f.type === FrameType.Hello) {
          const hello = Buffer.from(body).toString('utf8');
          // Token and job first: a stranger's HELLO is never held for a later ring.
          const stranger = credentialsRefusal(hello, this.job, this.token);
          if (stranger === undefined && (this.ring === undefined || f.generation > this.ring.generation)) {
            // The neighbour learnt of the new ring first; hold its HELLO until we attach (the
            // dialer's own deadline bounds the wait).
            this.earlyHellos.push(() => this.answerHello(socket, f, hello, (p) => (peer = p)));
            return;
          }
          this.answerHello(socket, f, hello, (p) => (peer = p));
        } else if (f.type === FrameType.Ack) {
          this.settle(f.msgId);
        } else if (f.type === FrameType.Nack) {
          const p = this.pending.get(f.msgId);
          const text = Buffer.from(body).toString('utf8');
          if (p !== undefined)
            this.settle(
              f.msgId,
              new RingtrainError(f.nackCode, `${this.who(p.to)} refused ${this.where(p.key)}: ${text}`),
            );
        } else if (f.type === FrameType.SharedReply) {
          this.shared.answered(peer, Buffer.from(body).toString('utf8'));
        }
      },
    );
    socket.on('data', (d: Buffer) => {
      if (peer >= 0) {
        this.guard(socket, () => reader.push(d));
        return;
      }
      try {
        reader.push(d);
      } catch (e) {
        socket.destroy();
        this.onRefused?.(
          `dropped a connection from ${from}: ${(e as Error).message} (it had not proven the join token)`,
        );
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.accepted.delete(socket);
      // A socket of an older ring closing must not touch the current ring's state.
      if (peer < 0 || this.closed || this.sendSockets.get(peer) !== socket) return;
      this.sendSockets.delete(peer);
      const err = new RingtrainError(
        'UNAVAILABLE',
        `${this.who(peer)} closed the ring connection (generation ${this.ring?.generation ?? '?'}): did it die?`,
      );
      for (const [id, p] of this.pending) if (p.to === peer) this.settle(id, err);
    });
  }

  private answerHello(socket: net.Socket, f: Frame, hello: string, setPeer: (rank: number) => void): void {
    const refusal = helloRefusal(f, hello, this.job, this.token, this.ring);
    if (refusal !== undefined) {
      this.onRefused?.(refusal);
      socket.end(controlFrame(FrameType.Nack, { nackCode: 'PEER_REFUSED' }, refusal));
      return;
    }
    setPeer(f.fromRank);
    this.sendSockets.set(f.fromRank, socket);
    socket.write(
      controlFrame(
        FrameType.Hello,
        { generation: f.generation, fromRank: this.identity.rank },
        [this.job, ...this.shared.offer(f.fromRank, socket.remoteAddress)].join('\n'),
      ),
    );
    for (const w of this.socketWaiters.get(f.fromRank) ?? []) w(socket);
    this.socketWaiters.delete(f.fromRank);
  }

  /** Drops every connection and pending message of the current ring; the port stays open. */
  private dropRing(reason: Error): void {
    this.mailbox.abort(reason);
    this.lent.forget();
    this.shared.forget();
    for (const id of [...this.pending.keys()]) this.settle(id, reason);
    for (const waiters of this.socketWaiters.values()) for (const w of waiters) w(reason);
    this.socketWaiters.clear();
    // Only connections of the old ring go; a neighbour's early HELLO for the new one stays.
    const old = [...this.sendSockets.values()];
    this.sendSockets.clear();
    for (const s of old) {
      this.accepted.delete(s);
      s.destroy();
    }
    const recv = this.recvSocket;
    this.recvSocket = undefined;
    recv?.destroy();
  }

  /** A peer that sends garbage loses its connection, with the reason, instead of crashing us. */
  private guard(socket: net.Socket, fn: () => void): boolean {
    try {
      fn();
    } catch (e) {
      const err = new RingtrainError('PEER_REFUSED', `malformed ring traffic: ${(e as Error).message}`);
      socket.destroy();
      this.mailbox.abort(err);
    }
    return true;
  }
}
