/**
 * A worker's ring: the endpoint its neighbours reach it on (kept across generations) and, for
 * each generation, the Communicator over the ring the coordinator handed out. Which path each
 * link and each all-reduce took is logged and shown on the ring-link gauge.
 */
import { Communicator, createRingEndpoint, type RingEndpoint } from '../allreduce';
import type { JobSpec } from '../config';
import type { Logger } from '../observe';
import type { JoinResult } from './coordinator-client';
import type { RingLinkGauge } from './ring-link-gauge';
import type { WorkerOptions } from './worker-options';

export interface RingContext {
  spec: JobSpec;
  o: Pick<WorkerOptions, 'token' | 'tls' | 'ownCpus'>;
  gauge: RingLinkGauge;
  /** The worker's logger now (it gains rank and generation at each join). */
  log: () => Logger;
}

export function workerRingEndpoint(c: RingContext): RingEndpoint {
  const { spec, o, gauge } = c;
  return createRingEndpoint(spec.cluster.transport, spec.name, spec.cluster.collectiveTimeoutSec * 1000, {
    token: o.token,
    onRefused: (reason) => {
      gauge.refusedOne();
      c.log().warn({ event: 'refused' }, `refused ring traffic: ${reason}`);
    },
    tls: o.tls,
    sharedMemoryBytes: spec.cluster.sharedMemoryMb * 2 ** 20,
    pollMicros: spec.cluster.pollMicros,
    ownCpus: o.ownCpus === true,
    onNote: (note, link) => {
      c.log().info({ event: 'ring-path' }, note);
      gauge.transportPath(link.to, link.shared);
    },
  });
}

/** The generation's Communicator, and how to abort its ring (a heartbeat verdict does). */
export async function connectRing(
  c: RingContext,
  endpoint: RingEndpoint,
  joined: JoinResult,
): Promise<{ comm: Communicator; abort: (e: Error) => void }> {
  const { rank, worldSize: world } = joined;
  const cluster = c.spec.cluster;
  const transport = await endpoint.attach(
    { job: c.spec.name, generation: joined.generation, rank, worldSize: world },
    joined.ring.map((p) => p.address),
  );
  const comm = new Communicator(transport, {
    dtype: cluster.compression === 'none' ? 'fp32' : cluster.compression,
    bucketElements: Math.floor((cluster.bucketCapMb * 1024 * 1024) / 4),
    hierarchy: cluster.hierarchy,
    onNote: (note, sharedFile) => {
      c.log().info({ event: 'allreduce-path' }, note);
      if (sharedFile === true && world > 1) c.gauge.sharedFilePath((rank + 1) % world);
    },
  });
  return { comm, abort: (e) => transport.abort(e) };
}
