/**
 * Loads proto/ringtrain.proto once and hands out the two service definitions, plus the channel
 * options both sides share. Kept apart from coordinator/ and allreduce/ so neither imports the
 * other.
 */
import * as fs from 'node:fs';
import type * as http2 from 'node:http2';
import type * as net from 'node:net';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** grpc-js refuses messages over 4 MiB by default; a gradient chunk is often larger. */
export const MAX_MESSAGE_BYTES = 1024 * 1024 * 1024;

/** HTTP/2 flow-control window for ring connections (both directions): larger than any step's chunk. */
export const FLOW_CONTROL_WINDOW = 64 * 1024 * 1024;

export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc-node.flow_control_window': FLOW_CONTROL_WINDOW,
  'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  // Keep idle ring connections open between steps; reconnects cost a handshake per step.
  'grpc.keepalive_time_ms': 30_000,
  'grpc.keepalive_permit_without_calls': 1,
};

/** dist/src/rpc -> project root; src/rpc when run from sources. */
function protoFile(): string {
  const candidates = [
    path.resolve(__dirname, '../../../proto/ringtrain.proto'),
    path.resolve(__dirname, '../../proto/ringtrain.proto'),
  ];
  const found = candidates.find((p) => fs.existsSync(p));
  if (found === undefined) throw new Error(`proto/ringtrain.proto not found near ${__dirname}`);
  return found;
}

interface ServiceCtor {
  new (address: string, creds: grpc.ChannelCredentials, options?: grpc.ChannelOptions): grpc.Client;
  service: grpc.ServiceDefinition;
}

let cached: { coordinator: ServiceCtor; collective: ServiceCtor } | undefined;

export function services(): { coordinator: ServiceCtor; collective: ServiceCtor } {
  if (cached !== undefined) return cached;
  const def = protoLoader.loadSync(protoFile(), {
    keepCase: false,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    ringtrain: { v1: { Coordinator: ServiceCtor; Collective: ServiceCtor } };
  };
  cached = { coordinator: pkg.ringtrain.v1.Coordinator, collective: pkg.ringtrain.v1.Collective };
  return cached;
}

/** Promise wrapper over a unary call with a deadline. */
export function unary<Req, Res>(
  client: grpc.Client,
  method: string,
  request: Req,
  deadlineMs: number,
  metadata: grpc.Metadata = new grpc.Metadata(),
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const fn = (client as unknown as Record<string, unknown>)[method];
    if (typeof fn !== 'function') {
      reject(new Error(`no method ${method} on client`));
      return;
    }
    const deadline = new Date(Date.now() + deadlineMs);
    (
      fn as (r: Req, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v: Res) => void) => void
    ).call(client, request, metadata, { deadline }, (err, value) => (err ? reject(err) : resolve(value)));
  });
}

export function isServiceError(e: unknown): e is grpc.ServiceError {
  return typeof e === 'object' && e !== null && 'code' in e && 'details' in e;
}

/** Graceful shutdown with a deadline: calls in flight get `graceMs` to finish, then the rest is cut. */
export function shutdownServer(server: grpc.Server, graceMs = 1000): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** Binds a server; port 0 picks a free port. An occupied port is reported as such, not as a stack. */
export function bindServer(
  server: grpc.Server,
  host: string,
  port: number,
  creds: grpc.ServerCredentials = grpc.ServerCredentials.createInsecure(),
): Promise<number> {
  quietBindFailures();
  return new Promise((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, creds, (err, bound) => {
      if (err) reject(err);
      else {
        disableNagleOnServer(server);
        resolve(bound);
      }
    });
  });
}

let quiet = false;
/**
 * grpc-js also prints a failed bind on stderr ("E No address added out of total 1 resolved"),
 * beside the error our callers turn into a message naming the address and the fix: drop that
 * one line, keep the rest of grpc-js's error output.
 */
function quietBindFailures(): void {
  if (quiet) return;
  quiet = true;
  grpc.setLogger({
    error: (...args: unknown[]) => {
      if (!args.some((a) => typeof a === 'string' && a.includes('No address added out of total')))
        console.error(...args);
    },
  });
}

/**
 * grpc-js sets TCP_NODELAY on client sockets only (grpc-node #2936). On the server, Nagle's
 * algorithm holds back small frames (WINDOW_UPDATE, response trailers) until the peer's delayed
 * ACK, stalling a ring step by up to 40 ms. grpc-js offers no option, so reach its http2 servers (a
 * private field, checked at run time; without it only latency suffers) and set no-delay on every
 * connection.
 */
function disableNagleOnServer(server: grpc.Server): void {
  const servers = (server as unknown as { http2Servers?: Map<net.Server, unknown> }).http2Servers;
  if (!(servers instanceof Map)) return;
  for (const s of servers.keys()) {
    if (typeof s.on !== 'function') continue;
    s.on('connection', (socket: net.Socket) => socket.setNoDelay(true));
    // Same story for flow control: with HTTP/2's 64 KiB default window a 200 KB chunk needs
    // WINDOW_UPDATEs from a receiver that may be busy computing; a large window lets the whole
    // chunk land in the socket buffer while it computes.
    s.on('session', (session: http2.ServerHttp2Session) => {
      session.setLocalWindowSize(FLOW_CONTROL_WINDOW);
      session.settings({ initialWindowSize: FLOW_CONTROL_WINDOW });
    });
  }
}
