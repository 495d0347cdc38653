/**
 * The gRPC protocol on node:http2, for the Collective service (the ring's data plane).
 *
 * Why not grpc-js here: it allocates and copies every message twice (a new frame with the 5-byte
 * prefix on send, a concatenation on receive) and runs each through its interceptor and stream
 * layers, and those buffers made full garbage collections a large share of a rank's time. Here the
 * payload is written from where it lies and read straight into place. The bytes on the wire are
 * gRPC's (content type, length-prefixed protobuf messages, grpc-status trailers), so any gRPC
 * client still talks to a worker's Collective service. The control plane (Coordinator) stays on
 * grpc-js.
 */
import * as http2 from 'node:http2';
import { status as Status } from '@grpc/grpc-js';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { TlsFiles } from '../config';
import { FLOW_CONTROL_WINDOW } from '../rpc';

export const GRPC_CONTENT_TYPE = 'application/grpc';
export const PREFIX_BYTES = 5;
const KEEPALIVE_MS = 30_000;

/** HTTP/2 flow-control window of ring connections, the control plane's: larger than any step's chunk. */
export const RING_WINDOW_BYTES = FLOW_CONTROL_WINDOW;

const SESSION_OPTIONS = {
  settings: { initialWindowSize: RING_WINDOW_BYTES },
  // Node's default (10 MB) refuses new streams while a large all-reduce has data queued.
  maxSessionMemory: Number.MAX_SAFE_INTEGER,
};

/** Writes the gRPC message prefix (not compressed, big-endian length) at `at`. */
export function writePrefix(buf: Buffer, at: number, messageBytes: number): void {
  buf[at] = 0;
  buf.writeUInt32BE(messageBytes, at + 1);
}

/** One small message with its prefix, in one buffer. */
export function framed(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(PREFIX_BYTES + message.length);
  writePrefix(out, 0, message.length);
  message.copy(out, PREFIX_BYTES);
  return out;
}

/**
 * grpc-message as the gRPC over HTTP/2 spec encodes it: bytes of the UTF-8 text outside
 * printable ASCII, and '%' itself, as %XX; everything else as is (clients decode only %XX).
 */
export function percentEncode(text: string): string {
  let out = '';
  for (const b of Buffer.from(text, 'utf8'))
    out +=
      b < 0x20 || b > 0x7e || b === 0x25 ? `%${b.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(b);
  return out;
}

export function percentDecode(text: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const hex = text[i] === '%' ? text.slice(i + 1, i + 3) : '';
    if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else bytes.push(...Buffer.from(text[i] as string, 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}

export function statusTrailers(code: number, details: string): http2.OutgoingHttpHeaders {
  return { 'grpc-status': String(code), 'grpc-message': percentEncode(details) };
}

/** A call's end status as a client reads it from headers or trailers; undefined when absent. */
export function readStatus(headers: http2.IncomingHttpHeaders): { code: number; details: string } | undefined {
  const raw = headers['grpc-status'];
  if (raw === undefined) return undefined;
  const code = Number(Array.isArray(raw) ? raw[0] : raw);
  const message = headers['grpc-message'];
  const details = typeof message === 'string' ? percentDecode(message) : '';
  return { code: Number.isInteger(code) ? code : Status.UNKNOWN, details };
}

/** The first value of a request header, if any. */
export function header(headers: http2.IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Answers a call that has not sent its headers with status only (a trailers-only response). */
export function refuseCall(stream: http2.ServerHttp2Stream, code: number, details: string): void {
  if (stream.destroyed || stream.closed) return;
  if (stream.headersSent) {
    stream.close(http2.constants.NGHTTP2_CANCEL);
    return;
  }
  stream.respond(
    { ':status': 200, 'content-type': GRPC_CONTENT_TYPE, ...statusTrailers(code, details) },
    { endStream: true },
  );
}

/**
 * Ring connections send at once (no Nagle delay: a step's last block is latency-bound), and
 * probe an idle peer, as grpc-js's keepalive did: evaluation or a checkpoint can leave the ring
 * quiet for minutes, and a middlebox may drop a connection it thinks idle.
 */
function tune(s: net.Socket): void {
  s.setNoDelay(true);
  s.setKeepAlive(true, KEEPALIVE_MS);
}

/** An HTTP/2 server (TLS when `tlsFiles` is given) for the ring. */
export function createRingServer(tlsFiles: TlsFiles | undefined): http2.Http2Server {
  if (tlsFiles === undefined) {
    const server = http2.createServer(SESSION_OPTIONS);
    server.on('connection', (s: net.Socket) => tune(s));
    return server;
  }
  const server = http2.createSecureServer({
    ...SESSION_OPTIONS,
    cert: tlsFiles.cert,
    key: tlsFiles.key,
    ca: tlsFiles.ca,
    requestCert: tlsFiles.mutual,
    rejectUnauthorized: tlsFiles.mutual,
    ALPNProtocols: ['h2'],
  });
  server.on('secureConnection', (s: tls.TLSSocket) => tune(s));
  return server;
}

/** Opens an HTTP/2 session to `address` (host:port), over TLS when `tlsFiles` is given. */
export function connectRing(address: string, tlsFiles: TlsFiles | undefined): http2.ClientHttp2Session {
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon).replace(/^\[|\]$/g, '');
  const port = Number(address.slice(colon + 1));
  const authority = `${tlsFiles === undefined ? 'http' : 'https'}://${address}`;
  const session = http2.connect(authority, {
    ...SESSION_OPTIONS,
    createConnection: () => {
      const s =
        tlsFiles === undefined
          ? net.connect({ host, port })
          : tls.connect({
              host,
              port,
              ca: tlsFiles.ca,
              cert: tlsFiles.cert,
              key: tlsFiles.key,
              servername: net.isIP(host) ? undefined : host,
              ALPNProtocols: ['h2'],
            });
      tune(s);
      return s;
    },
  });
  // The session-wide window too, not only each stream's: data of every stream counts against it.
  session.on('connect', () => session.setLocalWindowSize(RING_WINDOW_BYTES));
  return session;
}
