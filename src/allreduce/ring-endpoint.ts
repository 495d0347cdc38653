/**
 * A worker's ring port, whichever transport carries it. The port is opened before the worker
 * joins (its address goes into the ring), and becomes a Transport once the coordinator has
 * formed the ring.
 */
import { RingtrainError } from '../core';
import type { TlsFiles } from '../config';
import type { RingIdentity, Transport } from './transport';
import { CollectiveServer } from './collective-server';
import { GrpcTransport, type PairFileOptions } from './transport-grpc';
import { TcpTransport } from './transport-tcp';

export interface EndpointOptions {
  /** Join token that peers must present (and that this rank presents); undefined = none. */
  token?: string;
  /** Hears each refused connection or message, for logs and counters. */
  onRefused?: (reason: string) => void;
  tls?: TlsFiles;
  /**
   * Shared memory in bytes: a same-host pair's file (either transport), and on tcp the segment
   * offered to a same-host successor; 0 or unset = none.
   */
  sharedMemoryBytes?: number;
  /** Where the files are created (default /dev/shm). */
  sharedMemoryDir?: string;
  /** How long a rank polls shared memory for a same-host neighbour before sleeping (microseconds; 0 or unset = never, and no pair file). */
  pollMicros?: number;
  /** This worker is bound to CPUs of its own, so polling takes no other rank's CPU. */
  ownCpus?: boolean;
  /** Hears where payloads go (shared memory or socket) once neighbours have connected. */
  onNote?: (note: string, link: { to: number; shared: boolean }) => void;
}

export type TransportKind = 'grpc' | 'tcp';

export interface RingEndpoint {
  readonly kind: TransportKind;
  /** Binds the ring port (0 = any free port) and returns it. */
  listen(host: string, port: number): Promise<number>;
  /** Connects to the ring's neighbours; the result sends and receives for this rank. */
  attach(identity: RingIdentity, peerAddresses: string[]): Promise<Transport>;
  close(): Promise<void>;
}

class GrpcEndpoint implements RingEndpoint {
  readonly kind = 'grpc' as const;
  private readonly server: CollectiveServer;
  private transport: GrpcTransport | undefined;

  private readonly pairFile: PairFileOptions;

  constructor(job: string, timeoutMs: number, o: EndpointOptions) {
    this.server = new CollectiveServer(job, timeoutMs, o.token, o.onRefused, o.tls);
    this.pairFile = {
      bytes: o.sharedMemoryBytes ?? 0,
      dir: o.sharedMemoryDir,
      pollMicros: o.pollMicros ?? 0,
      ownCpus: o.ownCpus === true,
    };
  }

  listen(host: string, port: number): Promise<number> {
    return this.server.listen(host, port);
  }

  async attach(identity: RingIdentity, peerAddresses: string[]): Promise<Transport> {
    if (this.transport !== undefined) {
      // A new generation: whatever the old ring still waits for will never come.
      this.transport.abort(
        new RingtrainError(
          'STALE_GENERATION',
          `ring generation ${this.transport.identity.generation} replaced by generation ${identity.generation}`,
        ),
      );
      await this.transport.close();
    }
    this.transport = new GrpcTransport(identity, this.server, peerAddresses, this.pairFile);
    return this.transport;
  }

  async close(): Promise<void> {
    await this.transport?.close();
    await this.server.close();
  }
}

class TcpEndpoint implements RingEndpoint {
  readonly kind = 'tcp' as const;
  private readonly transport: TcpTransport;

  constructor(job: string, timeoutMs: number, o: EndpointOptions) {
    this.transport = new TcpTransport(job, timeoutMs, o.token, o.onRefused, o.tls, {
      bytes: o.sharedMemoryBytes ?? 0,
      dir: o.sharedMemoryDir,
      onNote: o.onNote,
      pollMicros: o.pollMicros,
      ownCpus: o.ownCpus,
    });
  }

  listen(host: string, port: number): Promise<number> {
    return this.transport.listen(host, port);
  }

  async attach(identity: RingIdentity, peerAddresses: string[]): Promise<Transport> {
    await this.transport.attach(identity, peerAddresses);
    return this.transport;
  }

  close(): Promise<void> {
    return this.transport.close();
  }
}

export function createRingEndpoint(
  kind: TransportKind,
  job: string,
  timeoutMs: number,
  o: EndpointOptions = {},
): RingEndpoint {
  if (kind === 'grpc') return new GrpcEndpoint(job, timeoutMs, o);
  if (kind === 'tcp') return new TcpEndpoint(job, timeoutMs, o);
  throw new RingtrainError('CONFIG_INVALID', `unknown transport '${String(kind)}': use grpc or tcp`);
}
