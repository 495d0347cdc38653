/**
 * Loads proto/ringtrain.proto once and hands out the two service definitions, plus the channel
 * options both sides share. Kept apart from coordinator/ and allreduce/ so neither imports the other.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** grpc-js refuses messages over 4 MiB by default; a gradient chunk is often larger. */
export const MAX_MESSAGE_BYTES = 1024 * 1024 * 1024;

export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
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
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const fn = (client as unknown as Record<string, unknown>)[method];
    if (typeof fn !== 'function') {
      reject(new Error(`no method ${method} on client`));
      return;
    }
    const deadline = new Date(Date.now() + deadlineMs);
    (fn as (r: Req, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v: Res) => void) => void).call(
      client,
      request,
      new grpc.Metadata(),
      { deadline },
      (err, value) => (err ? reject(err) : resolve(value)),
    );
  });
}

export function isServiceError(e: unknown): e is grpc.ServiceError {
  return typeof e === 'object' && e !== null && 'code' in e && 'details' in e;
}

/** Binds a server; port 0 picks a free port. An occupied port is reported as such, not as a stack. */
export function bindServer(server: grpc.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => {
      if (err) reject(err);
      else resolve(bound);
    });
  });
}
