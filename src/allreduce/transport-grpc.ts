/**
 * A Transport over the Collective gRPC service (collective-server.ts): sends go into the Pull
 * streams the receivers opened to this rank; receives come down the Pull stream this rank opens
 * to its predecessor, once per generation. Sends complete once their bytes have left the
 * process, never waiting for the receiver; a receiver's refusal comes back up its stream.
 *
 * A lent (borrowed) payload is written to HTTP/2 from where it lies, behind a small head: no
 * copy of the gradient into a message on this side, and none out of one on the other
 * (collective-server.ts reads it into place).
 */
import type * as http2 from 'node:http2';
import * as os from 'node:os';
import { constants as h2 } from 'node:http2';
import { status as Status } from '@grpc/grpc-js';
import { RingtrainError, isRingtrainError } from '../core';
import { TOKEN_METADATA_KEY } from '../rpc';
import { encodeChunk, encodeChunkHead, encodePull, type ChunkHeader } from './chunk-codec';
import { PULL_PATH, type CollectiveServer } from './collective-server';
import { GRPC_CONTENT_TYPE, PREFIX_BYTES, connectRing, framed, readStatus, writePrefix } from './grpc-h2';
import type { PullMessageParts } from './grpc-pull-streams';
import { LentPayloads } from './lent-payloads';
import { hostPairs, pairCandidate, sharedPairSetup, type PairConditions } from './shared-pair-setup';
import {
  describeKey,
  type HostPairs,
  type MessageKey,
  type PayloadMeta,
  type RingIdentity,
  type SharedPairSetup,
  type Transport,
} from './transport';

if (os.endianness() !== 'LE') {
  // Payloads are raw little-endian float32; a big-endian host would need a byte swap per element.
  throw new Error('ringtrain needs a little-endian host for its raw float32 wire format');
}

/** The message for `send`, prefixed: head and payload apart when lent, else one copy of both. */
function messageParts(header: ChunkHeader, payload: Uint8Array, lend: boolean): PullMessageParts {
  const head = lend
    ? encodeChunkHead(header, payload.byteLength, PREFIX_BYTES)
    : encodeChunk(header, payload, PREFIX_BYTES);
  writePrefix(head, 0, head.length - PREFIX_BYTES + (lend ? payload.byteLength : 0));
  return lend ? { head, payload } : { head };
}

/** What a same-host pair's shared file needs from the worker's options (cluster.sharedMemoryMb, pollMicros). */
export interface PairFileOptions {
  bytes: number;
  dir?: string;
  pollMicros: number;
  ownCpus: boolean;
}

export class GrpcTransport implements Transport {
  private readonly sessions = new Map<number, http2.ClientHttp2Session>();
  /** This rank's Pull streams, by the rank they pull from. */
  private readonly pulls = new Map<number, http2.ClientHttp2Stream>();
  /** Why the Pull stream from a rank ended, once it has: its later receives fail at once. */
  private readonly broken = new Map<number, RingtrainError>();
  /** Lent payloads not yet written out. */
  private readonly lent: LentPayloads;
  private closed = false;

  constructor(
    readonly identity: RingIdentity,
    private readonly server: CollectiveServer,
    private readonly peerAddresses: string[],
    /** A same-host pair's shared file (shared-pair-setup.ts); bytes 0 = none. */
    private readonly pairFile: PairFileOptions = { bytes: 0, pollMicros: 0, ownCpus: false },
  ) {
    server.setRing(identity, peerAddresses);
    this.lent = new LentPayloads(server.timeoutMs, (r) => this.who(r), 'take');
    // Every collective receives from the ring predecessor: open its stream now, not on the
    // first receive, so the predecessor's first send does not wait for it.
    const n = identity.worldSize;
    if (n > 1) this.pull((identity.rank - 1 + n) % n);
  }

  send(to: number, key: MessageKey, payload: Uint8Array, meta: PayloadMeta, borrowed = false): Promise<void> {
    const header: ChunkHeader = {
      job: this.identity.job,
      generation: this.identity.generation,
      ...key,
      fromRank: this.identity.rank,
      elements: meta.elements,
      dtype: meta.dtype,
    };
    // A lent payload is written from `payload` itself (flush() waits until it has left); any
    // other is copied now, so the caller may reuse `payload` as soon as we return.
    const lend = borrowed && payload.byteLength > 0;
    const written = this.server.outbound.write(to, this.identity.generation, messageParts(header, payload, lend));
    if (lend) {
      const done = this.lent.lend(to);
      written.then(done, done);
    }
    return written.catch((e: unknown) => {
      const where = `${describeKey(key)}, generation ${this.identity.generation}`;
      throw isRingtrainError(e)
        ? new RingtrainError(e.code, `${where}: ${e.message}`)
        : new RingtrainError('PEER_REFUSED', `${where}: ${String(e)}`);
    });
  }

  /**
   * Two ranks on this host sum through a shared file instead of messages, as over tcp: the
   * file is about where the ranks run; gRPC still carries every other collective.
   */
  pairCandidate(): boolean {
    return pairCandidate(this.pairConditions());
  }

  sharedPair(): SharedPairSetup | undefined {
    return sharedPairSetup(this.pairConditions());
  }

  /** Any rank pulls from any other, so same-host pairs of a larger ring may sum through files. */
  hostPairs(): HostPairs | undefined {
    return hostPairs(this.pairConditions());
  }

  /** What decides a same-host pair's shared file (shared-pair-setup.ts). */
  private pairConditions(): PairConditions {
    const o = this.pairFile;
    return {
      ring: this.identity,
      addresses: this.peerAddresses,
      bytes: o.bytes,
      dir: o.dir,
      pollMicros: o.pollMicros,
      ownCpus: o.ownCpus,
      tls: this.server.tls !== undefined,
      timeoutMs: this.server.timeoutMs,
      who: (r) => this.who(r),
      abortedIn: (g) => this.server.mailbox.abortedIn(g),
    };
  }

  flush(): Promise<void> {
    // A stalled stream leaves lent payloads unwritten: bounded like any wait.
    return this.lent.flush(this.identity.generation);
  }

  recv(from: number, key: MessageKey, out: Uint8Array, meta: PayloadMeta): Promise<void> {
    const broken = this.broken.get(from);
    if (broken !== undefined) return Promise.reject(broken);
    this.pull(from);
    return this.server.mailbox.expect(from, key, out, meta);
  }

  beginOp(opSeq: number): void {
    this.server.mailbox.beginOp(opSeq);
  }

  takeFirstArrival(opSeq: number): bigint | undefined {
    return this.server.mailbox.takeFirstArrival(opSeq);
  }

  abort(reason: Error, generation?: number): void {
    // The mailbox outlives this transport (the server is reused by the next generation).
    this.server.mailbox.abort(reason, generation ?? this.identity.generation);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.pulls.values()) if (!p.closed) p.close(h2.NGHTTP2_CANCEL);
    this.pulls.clear();
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(
      sessions.map(
        (s) =>
          new Promise<void>((resolve) => {
            if (s.destroyed) return resolve();
            // Our streams are cancelled, so a graceful close is quick; a peer that went silent is not waited for.
            // destroy() of a session whose peer never answered (SIGSTOP) may not emit 'close': do not wait for it.
            const force = setTimeout(() => {
              s.destroy();
              resolve();
            }, 1000);
            s.close(() => {
              clearTimeout(force);
              resolve();
            });
          }),
      ),
    );
  }

  /** Opens this rank's Pull stream from `from` (once per generation). */
  private pull(from: number): void {
    if (this.closed || this.pulls.has(from)) return;
    const { job, generation, rank } = this.identity;
    const session = this.session(from);
    const headers: http2.OutgoingHttpHeaders = {
      ':method': 'POST',
      ':path': PULL_PATH,
      'content-type': GRPC_CONTENT_TYPE,
      te: 'trailers',
    };
    if (this.server.token !== undefined) headers[TOKEN_METADATA_KEY] = this.server.token;
    let ended = false;
    const fail = (code: number, details: string): void => {
      if (ended) return;
      ended = true;
      // Our own cancel at close is not news; anything else means the sender is gone or refused
      // us, for every receive of this generation from it, posted now or later.
      if (this.closed) return;
      const why = this.explain(code, details, from);
      this.broken.set(from, why);
      this.abort(why, generation);
    };
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request(headers);
    } catch (e) {
      fail(Status.UNAVAILABLE, (e as Error).message);
      return;
    }
    this.pulls.set(from, stream);
    const refuse = (code: number, details: string): void => {
      if (!this.closed && !stream.closed)
        stream.write(framed(encodePull({ job, generation, fromRank: rank, refusal: details, code })));
    };
    const reader = this.server.pullReader(refuse);
    stream.write(framed(encodePull({ job, generation, fromRank: rank, refusal: '', code: 0 })));
    stream.on('data', (d: Buffer) => {
      if (ended) return;
      try {
        reader.push(d);
      } catch (e) {
        this.server.malformedPull(refuse, e as Error);
        ended = true;
        stream.close(h2.NGHTTP2_CANCEL);
      }
    });
    const settle = (h: http2.IncomingHttpHeaders): void => {
      const status = readStatus(h);
      if (status === undefined) return;
      // Our half closes too, so the sender's server is not kept waiting for it when it shuts down.
      if (!stream.writableEnded) stream.end();
      // Even a clean end means the sender closed its ring port: nothing more comes this generation.
      fail(
        status.code === Status.OK ? Status.UNAVAILABLE : status.code,
        status.code === Status.OK ? 'it ended the stream: its ring port closed' : status.details,
      );
    };
    stream.on('response', settle);
    stream.on('trailers', settle);
    stream.on('error', (e: Error) => fail(Status.UNAVAILABLE, e.message));
    stream.on('close', () =>
      fail(Status.UNAVAILABLE, `stream closed without a status (HTTP/2 code ${stream.rstCode ?? '?'})`),
    );
  }

  private session(rank: number): http2.ClientHttp2Session {
    let s = this.sessions.get(rank);
    if (s === undefined || s.destroyed || s.closed) {
      const address = this.peerAddresses[rank];
      if (address === undefined) throw new RingtrainError('PEER_REFUSED', `no address for rank ${rank}`);
      s = connectRing(address, this.server.tls);
      // Failures reach the streams of the session, which report them with the peer's name.
      s.on('error', () => undefined);
      this.sessions.set(rank, s);
    }
    return s;
  }

  private who(rank: number): string {
    return `rank ${rank} at ${this.peerAddresses[rank] ?? '?'}`;
  }

  private explain(code: number, details: string, from: number): RingtrainError {
    const who = this.who(from);
    const where = `pull stream of generation ${this.identity.generation}`;
    switch (code) {
      case Status.UNAVAILABLE:
        return new RingtrainError('UNAVAILABLE', `${where}: ${who} is unreachable (${details})`);
      case Status.FAILED_PRECONDITION:
        return new RingtrainError('STALE_GENERATION', `${who} refused the ${where}: ${details}`);
      default:
        return new RingtrainError('PEER_REFUSED', `${who} refused the ${where}: ${details}`);
    }
  }
}
