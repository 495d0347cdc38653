/**
 * The Collective gRPC service and a Transport over it. Each worker runs one server (bound before
 * it joins, so its address can go into the ring) and keeps one client per peer it sends to (its
 * ring successor). A send is a unary call that completes when the receiver has matched the chunk
 * to a posted receive; the receiver's refusal comes back as a gRPC status whose details are the
 * receiver's own message, and the sender re-raises it with the peer named.
 *
 * Messages use a raw Buffer codec (chunk-codec.ts) that is wire-compatible with the proto, so
 * any gRPC client speaking proto/ringtrain.proto can talk to this server.
 */
import * as os from 'node:os';
import * as grpc from '@grpc/grpc-js';
import { RingtrainError, isRingtrainError, type RingtrainErrorCode } from '../config/errors';
import type { TlsFiles } from '../config/tls-files';
import { requireToken, tokenMetadata } from '../rpc/auth';
import { channelCredentials, serverCredentials } from '../rpc/tls';
import { CHANNEL_OPTIONS, bindServer, isServiceError, shutdownServer } from '../rpc/proto';
import { decodeChunk, encodeChunk } from './chunk-codec';
import { Mailbox } from './mailbox';
import { describeKey, type MessageKey, type PayloadMeta, type RingIdentity, type Transport } from './transport';
import { WIRE_DTYPES } from './wire-dtype';

const STATUS_FOR: Partial<Record<RingtrainErrorCode, grpc.status>> = {
  STALE_GENERATION: grpc.status.FAILED_PRECONDITION,
  SIZE_MISMATCH: grpc.status.INVALID_ARGUMENT,
  PEER_REFUSED: grpc.status.FAILED_PRECONDITION,
  TIMEOUT: grpc.status.DEADLINE_EXCEEDED,
  ABORTED: grpc.status.ABORTED,
};

const OPS = new Set(['allreduce', 'broadcast', 'barrier']);
const EMPTY = Buffer.alloc(0);

/** The Collective service with identity (de)serializers: encoding happens in chunk-codec.ts. */
const COLLECTIVE_RAW: grpc.ServiceDefinition = {
  Send: {
    path: '/ringtrain.v1.Collective/Send',
    requestStream: false,
    responseStream: false,
    requestSerialize: (b: Buffer) => b,
    requestDeserialize: (b: Buffer) => b,
    responseSerialize: () => EMPTY,
    responseDeserialize: () => ({}),
    originalName: 'send',
  },
};

const RawCollectiveClient = grpc.makeGenericClientConstructor(COLLECTIVE_RAW, 'Collective');

if (os.endianness() !== 'LE') {
  // Payloads are raw little-endian float32; a big-endian host would need a byte swap per element.
  throw new Error('ringtrain needs a little-endian host for its raw float32 wire format');
}

/** The server half: receives chunks for this worker's mailbox. */
export class CollectiveServer {
  readonly mailbox: Mailbox;
  private server: grpc.Server | undefined;
  private boundPort = 0;
  private peerNames: string[] = [];

  constructor(
    readonly job: string,
    readonly timeoutMs: number,
    /** Join token every sender must present; undefined = no check. */
    readonly token?: string,
    /** Hears each refused message (bad token), for logs and counters. */
    private readonly onRefused?: (reason: string) => void,
    /** TLS material; undefined = plain TCP. Clients of this rank use it too. */
    readonly tls?: TlsFiles,
  ) {
    this.mailbox = new Mailbox(job, timeoutMs, (r) => this.peerNames[r] ?? `rank ${r}`);
  }

  async listen(host: string, port: number): Promise<number> {
    const server = new grpc.Server(CHANNEL_OPTIONS);
    const impl: grpc.UntypedServiceImplementation = {
      Send: (call: grpc.ServerUnaryCall<Buffer, object>, cb: grpc.sendUnaryData<object>) => this.onSend(call.request, cb),
    };
    server.addService(COLLECTIVE_RAW, requireToken(impl, this.token, (_m, reason) => this.onRefused?.(reason)));
    try {
      this.boundPort = await bindServer(server, host, port, serverCredentials(this.tls));
    } catch (e) {
      server.forceShutdown();
      throw new RingtrainError('ADDRESS_IN_USE', `cannot listen for ring traffic on ${host}:${port} (${(e as Error).message}): pick a free port or 0`);
    }
    this.server = server;
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
    this.mailbox.abort(new RingtrainError('ABORTED', 'collective server closed'));
    await shutdownServer(s);
  }

  private onSend(raw: Buffer, cb: grpc.sendUnaryData<object>): void {
    let msg: ReturnType<typeof decodeChunk>;
    try {
      msg = decodeChunk(raw);
    } catch (e) {
      cb({ code: grpc.status.INVALID_ARGUMENT, details: `malformed chunk: ${(e as Error).message}` });
      return;
    }
    const h = msg.header;
    if (!OPS.has(h.op) || !WIRE_DTYPES.includes(h.dtype)) {
      cb({ code: grpc.status.INVALID_ARGUMENT, details: `malformed chunk: unknown op '${h.op}' or dtype '${h.dtype}'` });
      return;
    }
    const key: MessageKey = { op: h.op as MessageKey['op'], opSeq: h.opSeq, bucket: h.bucket, step: h.step, chunk: h.chunk, block: h.block };
    this.mailbox
      .deliver({ job: h.job, generation: h.generation, fromRank: h.fromRank, key, elements: h.elements, dtype: h.dtype, bytes: msg.payload })
      .then(
        () => cb(null, {}),
        (e: unknown) => {
          const code = isRingtrainError(e) ? (STATUS_FOR[e.code] ?? grpc.status.INTERNAL) : grpc.status.INTERNAL;
          cb({ code, details: (e as Error).message });
        },
      );
  }
}

/** The client half plus the local mailbox: a Transport for one rank. */
export class GrpcTransport implements Transport {
  private readonly clients = new Map<number, grpc.Client>();

  constructor(
    readonly identity: RingIdentity,
    private readonly server: CollectiveServer,
    private readonly peerAddresses: string[],
    private readonly timeoutMs: number,
  ) {
    server.setRing(identity, peerAddresses);
  }

  send(to: number, key: MessageKey, payload: Uint8Array, meta: PayloadMeta): Promise<void> {
    const client = this.client(to);
    // Encoded (and so copied) now: the caller may reuse `payload` as soon as we return.
    const message = encodeChunk(
      { job: this.identity.job, generation: this.identity.generation, ...key, fromRank: this.identity.rank, elements: meta.elements, dtype: meta.dtype },
      payload,
    );
    return new Promise((resolve, reject) => {
      client.makeUnaryRequest(
        COLLECTIVE_RAW.Send!.path,
        (b: Buffer) => b,
        () => ({}),
        message,
        tokenMetadata(this.server.token),
        { deadline: Date.now() + this.timeoutMs },
        (err) => {
          if (err === null) resolve();
          else reject(this.explain(err, to, key));
        },
      );
    });
  }

  recv(from: number, key: MessageKey, out: Uint8Array, meta: PayloadMeta): Promise<void> {
    return this.server.mailbox.expect(from, key, out, meta);
  }

  beginOp(opSeq: number): void {
    this.server.mailbox.beginOp(opSeq);
  }

  abort(reason: Error, generation?: number): void {
    // The mailbox outlives this transport (the server is reused by the next generation).
    this.server.mailbox.abort(reason, generation ?? this.identity.generation);
  }

  async close(): Promise<void> {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  private client(rank: number): grpc.Client {
    let c = this.clients.get(rank);
    if (c === undefined) {
      const address = this.peerAddresses[rank];
      if (address === undefined) throw new RingtrainError('PEER_REFUSED', `no address for rank ${rank}`);
      c = new RawCollectiveClient(address, channelCredentials(this.server.tls), CHANNEL_OPTIONS);
      this.clients.set(rank, c);
    }
    return c;
  }

  private explain(err: unknown, to: number, key: MessageKey): RingtrainError {
    const who = `rank ${to} at ${this.peerAddresses[to] ?? '?'}`;
    const where = `${describeKey(key)}, generation ${this.identity.generation}`;
    if (!isServiceError(err)) return new RingtrainError('PEER_REFUSED', `${where}: ${String(err)}`);
    switch (err.code) {
      case grpc.status.DEADLINE_EXCEEDED:
        return new RingtrainError('TIMEOUT', `${where}: ${who} did not take the chunk within ${this.timeoutMs} ms`);
      case grpc.status.UNAVAILABLE:
        return new RingtrainError('UNAVAILABLE', `${where}: ${who} is unreachable (${err.details})`);
      case grpc.status.INVALID_ARGUMENT:
        return new RingtrainError('SIZE_MISMATCH', `${who} refused ${where}: ${err.details}`);
      case grpc.status.FAILED_PRECONDITION:
        return new RingtrainError('STALE_GENERATION', `${who} refused ${where}: ${err.details}`);
      case grpc.status.ABORTED:
        return new RingtrainError('ABORTED', `${who} aborted ${where}: ${err.details}`);
      case grpc.status.UNAUTHENTICATED:
        return new RingtrainError('PEER_REFUSED', `${who} refused ${where}: ${err.details}`);
      default:
        return new RingtrainError('PEER_REFUSED', `${who} refused ${where}: ${err.details}`);
    }
  }
}
