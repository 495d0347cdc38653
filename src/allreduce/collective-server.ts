/**
 * The Collective gRPC service of one worker (bound before it joins, so its address can go into
 * the ring), on node:http2 (see grpc-h2.ts for why not grpc-js).
 *
 * Pull (bidirectional): a receiver opens one stream per generation to the rank it receives from,
 * names itself in a first message, and that rank writes its chunks into the stream. Why pull:
 * the receiver's window decides how much may be in flight, and a receiver that is the HTTP/2
 * client sets it once for the whole session. Later messages up the stream carry the receiver's
 * refusal of a chunk (wrong size, encoding, collective), which fails the sender's collective
 * with the receiver's own message.
 *
 * Send (unary): push one chunk, answered once matched; kept for any gRPC client speaking
 * proto/ringtrain.proto. Messages are the proto's (chunk-codec.ts).
 */
import * as http2 from 'node:http2';
import { status as Status } from '@grpc/grpc-js';
import { RingtrainError, isRingtrainError, type RingtrainErrorCode } from '../core';
import type { TlsFiles } from '../config';
import { TOKEN_METADATA_KEY, sentTokenRefusal, MAX_MESSAGE_BYTES } from '../rpc';
import { decodeChunk, decodePull, readChunkHead, type ChunkHeader, type PullMessage } from './chunk-codec';
import { GrpcMessageReader } from './grpc-message-reader';
import {
  GRPC_CONTENT_TYPE,
  RING_WINDOW_BYTES,
  createRingServer,
  framed,
  header,
  refuseCall,
  statusTrailers,
} from './grpc-h2';
import { OutboundStreams, type PullSink } from './grpc-pull-streams';
import { Mailbox, type Arrival } from './mailbox';
import type { MessageKey, RingIdentity } from './transport';
import { WIRE_DTYPES } from './wire-dtype';

export const SEND_PATH = '/ringtrain.v1.Collective/Send';
export const PULL_PATH = '/ringtrain.v1.Collective/Pull';

const STATUS_FOR: Partial<Record<RingtrainErrorCode, number>> = {
  STALE_GENERATION: Status.FAILED_PRECONDITION,
  SIZE_MISMATCH: Status.INVALID_ARGUMENT,
  PEER_REFUSED: Status.FAILED_PRECONDITION,
  TIMEOUT: Status.DEADLINE_EXCEEDED,
  ABORTED: Status.ABORTED,
};

/** A refusal that came back up a Pull stream, as the sender's own error code. */
const CODE_FOR: Partial<Record<number, RingtrainErrorCode>> = {
  [Status.FAILED_PRECONDITION]: 'STALE_GENERATION',
  [Status.INVALID_ARGUMENT]: 'SIZE_MISMATCH',
  [Status.DEADLINE_EXCEEDED]: 'TIMEOUT',
  [Status.ABORTED]: 'ABORTED',
};

const OPS = new Set(['allreduce', 'broadcast', 'barrier']);
/** The empty ChunkAck answering Send. */
const EMPTY_ACK = framed(Buffer.alloc(0));
const CLOSE_GRACE_MS = 1000;

type Refuse = (code: number, details: string) => void;
type Refusal = { code: number; details: string };

function statusOf(e: unknown): number {
  return isRingtrainError(e) ? (STATUS_FOR[e.code] ?? Status.INTERNAL) : Status.INTERNAL;
}

/** A reader that hands each message whole (small ones: Pull's own messages, pushed chunks). */
function wholeMessages(onMessage: (m: Buffer) => void): GrpcMessageReader<null> {
  return new GrpcMessageReader<null>(
    MAX_MESSAGE_BYTES,
    () => ({ head: null, headBytes: 0, into: undefined }),
    (_h, body) => onMessage(body as Buffer),
  );
}

/** What a pulled chunk's head says: where it is from, or why it is refused before its payload is kept. */
interface PulledHead {
  arrival: Omit<Arrival, 'bytes'>;
  refusal?: RingtrainError;
}

export class CollectiveServer {
  readonly mailbox: Mailbox;
  /** The Pull streams of the ranks this worker sends to. */
  readonly outbound: OutboundStreams;
  private server: http2.Http2Server | undefined;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private boundPort = 0;
  private peerNames: string[] = [];

  constructor(
    readonly job: string,
    readonly timeoutMs: number,
    /** Join token every sender must present; undefined = no check. */
    readonly token?: string,
    /** Hears each refused call (bad token, TLS handshake), for logs and counters. */
    private readonly onRefused?: (reason: string) => void,
    /** TLS material; undefined = plain TCP. Clients of this rank use it too. */
    readonly tls?: TlsFiles,
  ) {
    this.mailbox = new Mailbox(job, timeoutMs, (r) => this.describePeer(r));
    this.outbound = new OutboundStreams(timeoutMs, (r) => this.describePeer(r));
  }

  describePeer(rank: number): string {
    return this.peerNames[rank] ?? `rank ${rank}`;
  }

  async listen(host: string, port: number): Promise<number> {
    const server = createRingServer(this.tls);
    server.on('session', (s: http2.ServerHttp2Session) => {
      this.sessions.add(s);
      s.on('close', () => this.sessions.delete(s));
      // A peer that goes away mid-session is reported through its streams; the session's own error adds nothing.
      s.on('error', () => undefined);
      s.on('connect', () => s.setLocalWindowSize(RING_WINDOW_BYTES));
    });
    server.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) =>
      this.onStream(stream, headers),
    );
    server.on('tlsClientError', (e: Error) => this.onRefused?.(`TLS handshake refused: ${e.message}`));
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      throw new RingtrainError(
        'ADDRESS_IN_USE',
        `cannot listen for ring traffic on ${host}:${port} (${(e as Error).message}): pick a free port or 0`,
      );
    }
    this.server = server;
    const address = server.address();
    this.boundPort = typeof address === 'object' && address !== null ? address.port : port;
    return this.boundPort;
  }

  get port(): number {
    return this.boundPort;
  }

  /** Called once the coordinator has formed the ring; names peers in later errors. */
  setRing(identity: RingIdentity, peerAddresses: string[]): void {
    this.peerNames = peerAddresses.map((a, r) => `rank ${r} at ${a}`);
    this.mailbox.setIdentity(identity);
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s === undefined) return;
    const closed = new RingtrainError('ABORTED', 'collective server closed');
    this.mailbox.abort(closed);
    this.outbound.closeAll(closed);
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        for (const session of this.sessions) session.destroy();
      }, CLOSE_GRACE_MS);
      s.close(() => {
        clearTimeout(force);
        resolve();
      });
      for (const session of this.sessions) session.close();
    });
  }

  /**
   * A reader for the chunks coming down one of this rank's Pull streams. Each chunk's payload
   * goes straight into the receive this rank posted for it, when there is one of its size. A
   * refusal goes back up the stream (`refuse`) and also fails this rank's own collective, except
   * a stale generation's chunk, which only the old ring cares about.
   */
  pullReader(refuse: Refuse): GrpcMessageReader<PulledHead> {
    const fail = (e: unknown, generation: number): void => {
      refuse(statusOf(e), (e as Error).message);
      if (!isRingtrainError(e) || e.code !== 'STALE_GENERATION') this.mailbox.abort(e as Error, generation);
    };
    return new GrpcMessageReader<PulledHead>(
      MAX_MESSAGE_BYTES,
      (bytes, messageBytes) => {
        const head = readChunkHead(bytes, messageBytes);
        if (head === undefined) return undefined;
        const arrival = this.arrivalOf(head.header);
        if ('details' in arrival) throw new Error(arrival.details);
        const bodyBytes = messageBytes - head.headBytes;
        const refusal = this.mailbox.check(arrival, bodyBytes);
        if (refusal !== undefined) return { head: { arrival, refusal }, headBytes: head.headBytes, into: null };
        const posted = this.mailbox.postedFor(arrival.fromRank, arrival.key);
        return {
          head: { arrival },
          headBytes: head.headBytes,
          into: posted?.byteLength === bodyBytes ? posted : undefined,
        };
      },
      ({ arrival, refusal }, bytes) => {
        if (refusal !== undefined) {
          fail(refusal, arrival.generation);
          return;
        }
        this.mailbox.deliver(withBytes(arrival, bytes)).catch((e: unknown) => fail(e, arrival.generation));
      },
    );
  }

  /** A pulled stream broke its framing: refused up the stream, and this rank's collective fails. */
  malformedPull(refuse: Refuse, e: Error): void {
    const details = `malformed chunk: ${e.message}`;
    refuse(Status.INVALID_ARGUMENT, details);
    this.mailbox.abort(new RingtrainError('PEER_REFUSED', details), this.mailbox.ring?.generation);
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', () => undefined);
    const path = header(headers, ':path');
    if (path !== SEND_PATH && path !== PULL_PATH) {
      refuseCall(stream, Status.UNIMPLEMENTED, `the Collective service has no method ${path ?? '(none)'}`);
      return;
    }
    if (!(header(headers, 'content-type') ?? '').startsWith(GRPC_CONTENT_TYPE)) {
      refuseCall(stream, Status.INVALID_ARGUMENT, `content-type must be ${GRPC_CONTENT_TYPE}`);
      return;
    }
    const refusal = sentTokenRefusal(header(headers, TOKEN_METADATA_KEY), this.token);
    if (refusal !== undefined) {
      this.onRefused?.(refusal);
      refuseCall(stream, Status.UNAUTHENTICATED, refusal);
      return;
    }
    if (path === SEND_PATH) this.onSend(stream);
    else this.onPull(stream);
  }

  private onPull(stream: http2.ServerHttp2Stream): void {
    let status: Refusal = { code: Status.OK, details: '' };
    stream.respond({ ':status': 200, 'content-type': GRPC_CONTENT_TYPE }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers(statusTrailers(status.code, status.details)));
    const endWith = (code: number, details: string): void => {
      status = { code, details };
      stream.end();
    };
    const sink: PullSink = {
      write: (head, payload, done) => {
        const cb = (err?: Error | null): void => done(err ?? undefined);
        if (payload === undefined) stream.write(head, cb);
        else {
          stream.write(head);
          stream.write(payload, cb);
        }
      },
      end: () => {
        if (!stream.closed && !stream.writableEnded) stream.end();
      },
    };
    let hello: PullMessage | undefined;
    const reader = wholeMessages((raw) => {
      const m = decodePull(raw);
      if (hello === undefined) {
        if (m.job !== this.job) {
          endWith(Status.FAILED_PRECONDITION, `pull stream for job '${m.job}' reached a worker of job '${this.job}'`);
          return;
        }
        hello = m;
        this.outbound.add(m.fromRank, m.generation, sink);
        return;
      }
      if (m.refusal !== '') {
        const why = new RingtrainError(
          CODE_FOR[m.code] ?? 'PEER_REFUSED',
          `${this.describePeer(hello.fromRank)} refused a chunk of generation ${hello.generation}: ${m.refusal}`,
        );
        this.mailbox.abort(why, hello.generation);
      }
    });
    stream.on('data', (d: Buffer) => {
      try {
        reader.push(d);
      } catch (e) {
        endWith(Status.INVALID_ARGUMENT, `malformed pull message: ${(e as Error).message}`);
      }
    });
    const gone = (why: string): void => {
      if (hello === undefined) return;
      this.outbound.drop(
        hello.fromRank,
        sink,
        new RingtrainError(
          'UNAVAILABLE',
          `${this.describePeer(hello.fromRank)} closed its pull stream of generation ${hello.generation} (${why})`,
        ),
      );
    };
    stream.on('end', () => {
      gone('stream ended');
      sink.end();
    });
    stream.on('aborted', () => gone('cancelled'));
    stream.on('close', () => gone('closed'));
  }

  private onSend(stream: http2.ServerHttp2Stream): void {
    const messages: Buffer[] = [];
    const reader = wholeMessages((m) => messages.push(m));
    let broken: string | undefined;
    stream.on('data', (d: Buffer) => {
      if (broken !== undefined) return;
      try {
        reader.push(d);
      } catch (e) {
        broken = (e as Error).message;
      }
    });
    stream.on('end', () => {
      const raw = messages[0];
      if (broken !== undefined || raw === undefined || messages.length > 1) {
        refuseCall(
          stream,
          Status.INVALID_ARGUMENT,
          `malformed chunk: ${broken ?? `a Send call carries exactly one message, this one ${messages.length}`}`,
        );
        return;
      }
      const parsed = this.parse(raw);
      if ('details' in parsed) {
        refuseCall(stream, parsed.code, parsed.details);
        return;
      }
      this.mailbox.deliver(parsed).then(
        () => {
          if (stream.closed) return;
          stream.respond({ ':status': 200, 'content-type': GRPC_CONTENT_TYPE }, { waitForTrailers: true });
          stream.on('wantTrailers', () => stream.sendTrailers(statusTrailers(Status.OK, '')));
          stream.end(EMPTY_ACK);
        },
        (e: unknown) => refuseCall(stream, statusOf(e), (e as Error).message),
      );
    });
  }

  /** A chunk header's identity, or why it is malformed. */
  private arrivalOf(h: ChunkHeader): Omit<Arrival, 'bytes'> | Refusal {
    if (!OPS.has(h.op) || !WIRE_DTYPES.includes(h.dtype)) {
      return { code: Status.INVALID_ARGUMENT, details: `malformed chunk: unknown op '${h.op}' or dtype '${h.dtype}'` };
    }
    const key: MessageKey = {
      op: h.op as MessageKey['op'],
      opSeq: h.opSeq,
      bucket: h.bucket,
      step: h.step,
      chunk: h.chunk,
      block: h.block,
    };
    return { job: h.job, generation: h.generation, fromRank: h.fromRank, key, elements: h.elements, dtype: h.dtype };
  }

  /** Decodes and checks one whole chunk message: an arrival for the mailbox, or why it is malformed. */
  private parse(raw: Buffer): Arrival | Refusal {
    let msg: ReturnType<typeof decodeChunk>;
    try {
      msg = decodeChunk(raw);
    } catch (e) {
      return { code: Status.INVALID_ARGUMENT, details: `malformed chunk: ${(e as Error).message}` };
    }
    const arrival = this.arrivalOf(msg.header);
    return 'details' in arrival ? arrival : withBytes(arrival, msg.payload);
  }
}

/**
 * The arrival with its payload, its fields written out: `{ ...arrival, bytes }` would give every
 * message's object a hidden class of its own.
 */
function withBytes(a: Omit<Arrival, 'bytes'>, bytes: Uint8Array): Arrival {
  return {
    job: a.job,
    generation: a.generation,
    fromRank: a.fromRank,
    key: a.key,
    elements: a.elements,
    dtype: a.dtype,
    bytes,
  };
}
