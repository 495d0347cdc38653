/**
 * Starts the coordinator process's parts (gRPC service, /metrics), waits for the job to end,
 * and tears everything down. Returns the final state rather than exiting, so the CLI decides the
 * exit code and tests can run a coordinator in-process.
 */
import * as grpc from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import { RingtrainError } from '../core';
import { trainingFingerprint, type JobSpec, type TlsFiles } from '../config';
import {
  startHttpServer,
  type RunningHttpServer,
  type Logger,
  createCoordinatorMetrics,
  type CoordinatorMetrics,
  createProcessMetrics,
  statusPageRoutes,
} from '../observe';
import { requireToken, serverCredentials, CHANNEL_OPTIONS, bindServer, shutdownServer } from '../rpc';
import { Job } from './job';
import { readCoordinatorState, writeCoordinatorState } from './state-file';
import { CoordinatorService } from './service';

export interface CoordinatorOptions {
  spec: JobSpec;
  host: string;
  port: number;
  log: Logger;
  /** Called once the ports are bound (the launcher learns them this way). */
  onListening?: (ports: { grpc: number; metrics: number }) => void;
  /** Time after the job ends during which workers can still learn the verdict. */
  lingerMs?: number;
  /** Join token every call must carry; undefined = no check. */
  token?: string;
  /** Where the coordinator keeps its state so that a restarted one picks the job up. */
  stateFile?: string;
  /** TLS (or mTLS) for the Coordinator service; undefined = plain TCP. */
  tls?: TlsFiles;
  /** Hears the job's failure and its reason, once. */
  onJobFailed?: (reason: string) => void;
  /** Hears each worker declared lost (the launcher kills and restarts a hung one). */
  onWorkerLost?: (lost: { workerId: string; rank: number; reason: string }) => void;
}

export interface CoordinatorResult {
  ok: boolean;
  reason: string;
  generation: number;
}

export interface RunningCoordinator {
  grpcPort: number;
  metricsPort: number;
  service: CoordinatorService;
  /** Resolves when the job has ended and the servers are closed. */
  done: Promise<CoordinatorResult>;
  /** Stops early (signal): the job is marked failed with `reason`. */
  stop(reason: string): Promise<CoordinatorResult>;
}

export async function startCoordinator(opts: CoordinatorOptions): Promise<RunningCoordinator> {
  const { spec, log } = opts;
  const registry = new Registry();
  const metrics = createCoordinatorMetrics(registry);
  createProcessMetrics(registry);
  const job = newJob(spec, opts.stateFile, log);
  job.onLost = opts.onWorkerLost;
  const service = new CoordinatorService(job, log, metrics, {
    seed: spec.seed,
    shuffle: spec.data.shuffle,
    dropLast: false,
  });
  if (opts.stateFile !== undefined) service.onPhaseChange = persistPhases(opts.stateFile, spec, log);
  service.onStragglers = (ranks) => metrics.setStragglers(ranks);
  service.onFailed = opts.onJobFailed;
  const { server, grpcPort } = await serveGrpc(service, opts, metrics);
  let http: RunningHttpServer;
  try {
    http = await startHttpServer({
      host: spec.observe.metricsHost,
      port: spec.observe.metricsPort,
      registry,
      health: () => ({ ok: job.phase !== 'failed', detail: job.phase === 'failed' ? job.reason : job.phase }),
      routes: statusPageRoutes(() => service.snapshot()),
    });
  } catch (e) {
    server.forceShutdown();
    throw e;
  }
  service.start();
  log.info(
    { event: 'listening', grpcPort, metricsPort: http.port },
    `coordinator listening on ${opts.host}:${grpcPort}, metrics on ${http.url}/metrics, status page on ${http.url}/`,
  );
  opts.onListening?.({ grpc: grpcPort, metrics: http.port });

  let closing: Promise<CoordinatorResult> | undefined;
  const shutdown = (): Promise<CoordinatorResult> => {
    closing ??= (async () => {
      // Linger so workers polling heartbeats learn the verdict before the port disappears.
      await new Promise((r) => setTimeout(r, opts.lingerMs ?? 1500));
      service.stop();
      await shutdownServer(server);
      await http.close();
      return { ok: job.phase === 'done', reason: job.reason, generation: job.generation };
    })();
    return closing;
  };
  const deadline = activeDeadline(spec, job, service, log);
  const done = service.finished.then(() => {
    clearInterval(deadline);
    return shutdown();
  });
  return {
    grpcPort,
    metricsPort: http.port,
    service,
    done,
    stop: (reason: string) => {
      clearInterval(deadline);
      job.fail(reason);
      service.finishedByStop();
      return shutdown();
    },
  };
}

/**
 * cluster.activeDeadlineSec: the job fails when it runs longer, as a Job's activeDeadlineSeconds.
 * Checked on an interval rather than one timer: setTimeout cannot wait past 24.8 days.
 */
function activeDeadline(spec: JobSpec, job: Job, service: CoordinatorService, log: Logger): NodeJS.Timeout | undefined {
  const sec = spec.cluster.activeDeadlineSec;
  if (sec === 0) return undefined;
  const until = Date.now() + sec * 1000;
  const timer = setInterval(
    () => {
      if (Date.now() < until || job.phase === 'done' || job.phase === 'failed') return;
      clearInterval(timer);
      const reason = `the job ran past cluster.activeDeadlineSec (${sec} s since the coordinator started): raise it, or 0 for no limit`;
      log.error({ event: 'deadline' }, reason);
      job.fail(reason);
      service.finishedByStop();
    },
    Math.min(sec * 1000, 10_000),
  );
  timer.unref();
  return timer;
}

/** The job from the spec, or the one the state file records when a restarted coordinator may take it over. */
function newJob(spec: JobSpec, stateFile: string | undefined, log: Logger): Job {
  const job = new Job({
    job: spec.name,
    worldSize: spec.cluster.worldSize,
    configHash: trainingFingerprint(spec),
    joinTimeoutMs: spec.cluster.joinTimeoutSec * 1000,
    leaseMs: spec.cluster.leaseTimeoutSec * 1000,
    minWorkers: spec.cluster.minWorkers === 0 ? spec.cluster.worldSize : spec.cluster.minWorkers,
    maxRestarts: spec.cluster.maxRestarts,
    lastCallMs: spec.cluster.lastCallSec * 1000,
    // Two missed heartbeats: quick enough for recovery well under the lease, slow enough for GC pauses.
    suspectGraceMs: 2 * spec.cluster.heartbeatIntervalSec * 1000,
    startedAtMs: Date.now(),
  });
  if (stateFile !== undefined) {
    const saved = readCoordinatorState(stateFile, (m) => log.warn({ event: 'state-file' }, m));
    if (
      saved !== undefined &&
      saved.job === spec.name &&
      saved.phase === 'running' &&
      saved.configHash === job.opts.configHash
    ) {
      job.recover(saved, Date.now());
      log.warn(
        { event: 'recovered', generation: saved.generation, restarts: saved.restarts, holders: saved.holders },
        `recovered job '${spec.name}' from ${stateFile}: waiting for its ${saved.holders.length} workers to re-join (generation ${saved.generation + 1})`,
      );
    } else if (saved !== undefined && saved.phase !== 'running') {
      log.info({ event: 'state-file' }, `${stateFile} records a ${saved.phase} job; starting afresh`);
    }
  }
  return job;
}

/** Writes the job's phase changes to `file`, so that a restarted coordinator can pick the job up. */
function persistPhases(file: string, spec: JobSpec, log: Logger): (j: Job) => void {
  return (j) => {
    if (j.phase === 'rendezvous') return;
    try {
      writeCoordinatorState(file, {
        job: spec.name,
        configHash: j.opts.configHash,
        generation: j.generation,
        restarts: j.restarts,
        holders: j.ring.map((p) => p.workerId),
        phase: j.phase,
        reason: j.reason,
      });
    } catch (e) {
      // The file only serves a restarted coordinator: the job itself goes on.
      log.error({ event: 'state-file' }, `${(e as Error).message}; a restarted coordinator could not pick this job up`);
    }
  };
}

/** The Coordinator service on its gRPC port, behind the join-token check. */
async function serveGrpc(
  service: CoordinatorService,
  opts: CoordinatorOptions,
  metrics: CoordinatorMetrics,
): Promise<{ server: grpc.Server; grpcPort: number }> {
  const { log } = opts;
  const server = new grpc.Server(CHANNEL_OPTIONS);
  server.addService(
    service.serviceDefinition(),
    requireToken(service.implementation(), opts.token, (method, reason) => {
      log.warn({ event: 'refused', method }, `refused a ${method} call: ${reason}`);
      metrics.refusedTotal.inc({ reason: 'token' });
    }),
  );
  try {
    return { server, grpcPort: await bindServer(server, opts.host, opts.port, serverCredentials(opts.tls)) };
  } catch (e) {
    server.forceShutdown();
    throw new RingtrainError(
      'ADDRESS_IN_USE',
      `coordinator cannot listen on ${opts.host}:${opts.port} (${(e as Error).message}): pick another --port, or 0 for any free port`,
    );
  }
}
