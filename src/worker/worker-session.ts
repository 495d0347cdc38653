/**
 * The executor of a worker's life cycle (life-cycle.ts decides, this does): it holds what lasts
 * across generations (the ring port, the metrics server, the coordinator client and heartbeat,
 * the model, the live state a broken ring keeps) and carries out each action: join, train one
 * generation, report a broken ring and heartbeat for the verdict, re-join, finish, give up. The
 * heartbeat's verdicts are events too: they update the state and abort a step in flight.
 */
import { Registry } from 'prom-client';
import type { Communicator, RingEndpoint } from '../allreduce';
import { DIRECTORY_USES, RingtrainError, makeDirectory } from '../core';
import { trainingFingerprint, type JobSpec } from '../config';
import { AugmentThreads, startAugmentation, type Augmentation } from '../data';
import {
  TraceWriter,
  createProcessMetrics,
  createWorkerMetrics,
  startHttpServer,
  type Logger,
  type WorkerMetrics,
} from '../observe';
import { buildModel, summarizeModel } from '../train';
import { RunRecorder } from '../record';
import type { Checkpoint } from './checkpoint-store';
import type { Clock } from './clock';
import { CoordinatorClient, type JoinResult } from './coordinator-client';
import { finishRun, saveInitialModel, type WorkerSummary } from './finish-run';
import { loadTeacher, prepareModel } from './fine-tune';
import { fingerprintModel } from './model-fingerprint';
import { FullDiskGuard } from './full-disk';
import { HeartbeatLoop, type Progress } from './heartbeat-loop';
import { loopHooks } from './loop-hooks';
import {
  decide,
  failureOf,
  initialLife,
  verdictWaitMs,
  type Failure,
  type LifeAction,
  type LifeEvent,
  type LifeState,
} from './life-cycle';
import { exportRankEnv, localRankOf } from './rank-env';
import { RingLinkGauge } from './ring-link-gauge';
import { connectRing, workerRingEndpoint, type RingContext } from './ring-setup';
import { checkpointDirOf, trimMetrics, writesCheckpoints } from './run-dir';
import { resumePointAfterLoss } from './resume-point';
import { TrainLoop } from './train-loop';
import type { TrainHooks, TrainResult } from './train-types';
import type { WorkerEnv, WorkerOptions } from './worker-options';

/** What the session opened before its first join. */
interface Opened {
  ringPort: number;
  metricsUrl: string;
  model: ReturnType<typeof buildModel>;
  startNotes: ReturnType<typeof prepareModel>;
  teacher: Awaited<ReturnType<typeof loadTeacher>>;
  modelFingerprint: string;
}

/** One generation: the ring this worker joined and the loop that trains on it. */
interface Generation {
  joined: JoinResult;
  rank: number;
  world: number;
  comm: Communicator;
  recorder: RunRecorder;
  loop: TrainLoop;
}

export class WorkerSession {
  private life: LifeState;
  private log: Logger;
  private readonly spec: JobSpec;
  private readonly progress: Progress = { generation: 0, step: 0, epoch: 0, busySeconds: 0, commSeconds: 0 };
  private readonly cleanups: (() => Promise<void> | void)[] = [];
  private readonly gauge = new RingLinkGauge();
  private readonly ringServer: RingEndpoint;
  private readonly registry = new Registry();
  /** CPU, memory, GC and event-loop lag: kept across generations (the ringtrain series start over). */
  private readonly processRegistry = new Registry();
  private readonly client: CoordinatorClient;
  private readonly heartbeat: HeartbeatLoop;
  private readonly disk: FullDiskGuard;
  /** Abandons the current generation's collectives in flight. */
  private abortRing: (e: Error) => void = () => undefined;
  private opened: Opened | undefined;
  /** data.augment, inline or on threads that outlive generations. */
  private augment: Augmentation | undefined;
  private joined: JoinResult | undefined;
  private gen: Generation | undefined;
  private result: TrainResult | undefined;
  private summary: WorkerSummary | undefined;
  /** The live training state a broken ring kept, for the next generation. */
  private snapshot: Checkpoint | undefined;
  private tracer: TraceWriter | undefined;
  /** This worker has been rank 0 before: its directories are checked and the model summary logged. */
  private rankZeroReady = false;

  constructor(
    private readonly o: WorkerOptions,
    private readonly env: WorkerEnv,
    private readonly clock: Clock,
  ) {
    const spec = o.spec;
    this.spec = spec;
    this.log = o.log;
    const elastic = spec.cluster.maxRestarts > 0;
    // An elastic worker rides out a coordinator restart; a fixed one gives up after a lease.
    const graceMs =
      (elastic
        ? Math.max(spec.cluster.connectTimeoutSec, spec.cluster.leaseTimeoutSec)
        : spec.cluster.leaseTimeoutSec) * 1000;
    this.life = initialLife(elastic, verdictWaitMs(spec.cluster, graceMs));
    this.ringServer = workerRingEndpoint(this.ringContext());
    createProcessMetrics(this.processRegistry);
    this.client = new CoordinatorClient(o.coordinator, spec.name, o.workerId, o.token, o.tls);
    this.cleanups.push(
      () => this.client.close(),
      () => this.ringServer.close(),
    );
    this.disk = new FullDiskGuard(() => this.log);
    this.heartbeat = new HeartbeatLoop(
      this.client,
      () => this.progress,
      spec.cluster.heartbeatIntervalSec * 1000,
      graceMs,
      {
        onFatal: (reason) => this.hear({ kind: 'fatal', reason }),
        onCoordinatorLost: {
          lostMs: spec.cluster.leaseTimeoutSec * 1000,
          call: (reason) => {
            this.log.warn({ event: 'coordinator-lost' }, reason);
            o.onCoordinatorLost?.(reason);
          },
        },
        onRendezvous: elastic ? (reason) => this.hear({ kind: 'rendezvous', reason }) : undefined,
      },
      clock,
    );
  }

  /** What the ring's setup reads from the session. */
  private ringContext(): RingContext {
    return { spec: this.spec, o: this.o, gauge: this.gauge, log: () => this.log };
  }

  /** Runs the life cycle to its end: the summary, or the error it gave up with. */
  async execute(): Promise<WorkerSummary> {
    try {
      let action = this.next(await this.outcome(() => this.open()));
      while (action.kind !== 'exit') action = await this.perform(action);
      if (this.summary === undefined) throw new Error('worker life cycle: exit without a summary');
      return this.summary;
    } finally {
      this.heartbeat.stop();
      for (const c of this.cleanups.reverse()) await c();
    }
  }

  /** The decision on `e`: the state moves on, the action is returned to perform. */
  private next(e: LifeEvent): LifeAction {
    const d = decide(this.life, e, this.clock.ms());
    this.life = d.state;
    return d.action;
  }

  /** A heartbeat verdict, heard between the executor's steps: a step in flight is abandoned. */
  private hear(e: LifeEvent): void {
    const action = this.next(e);
    if (action.kind === 'abort-ring')
      this.abortRing(
        new RingtrainError(action.error.code === 'INTERNAL' ? 'JOB_FAILED' : action.error.code, action.error.message),
      );
  }

  private async perform(a: LifeAction): Promise<LifeAction> {
    switch (a.kind) {
      case 'join':
        return this.next(await this.outcome(() => this.join()));
      case 'train':
        return this.next(await this.train());
      case 'report-broken':
        this.reportBroken(a.suspects, a.error);
        await this.heartbeat.beat();
        return this.next({ kind: 'heartbeat-done' });
      case 'heartbeat':
        await this.heartbeat.beat();
        return this.next({ kind: 'heartbeat-done' });
      case 'pause':
        await this.clock.sleep(a.ms);
        return this.next({ kind: 'paused' });
      case 'rejoin':
        this.keepState(a.reason);
        return this.next({ kind: 'start' });
      case 'finish':
        return this.next(await this.outcome(() => this.finish()));
      case 'give-up':
        return this.giveUp(a.error, a.report);
      case 'exit':
      case 'abort-ring':
      case 'none':
        throw new Error(`worker life cycle: '${a.kind}' is not a step the executor takes`);
    }
  }

  /** Runs a step; its failure becomes the 'failed' event. */
  private async outcome(step: () => Promise<LifeEvent>): Promise<LifeEvent> {
    try {
      return await step();
    } catch (e) {
      return { kind: 'failed', error: failureOf(e) };
    }
  }

  private async giveUp(error: Failure, report: boolean): Promise<never> {
    this.heartbeat.stop();
    if (report) await this.client.finish(false, error.message).catch(() => undefined);
    throw error.cause ?? new RingtrainError(error.code === 'INTERNAL' ? 'JOB_FAILED' : error.code, error.message);
  }

  /** Before the first join: the ring port, the metrics server, the model (and teacher). */
  private async open(): Promise<LifeEvent> {
    const { spec, o } = this;
    const { data } = this.env;
    // Padding is a black pixel as the model sees it: raw 0, normalized.
    const fill = -(data.preprocess.mean[0] ?? 0) / (data.preprocess.std[0] ?? 1);
    const made = startAugmentation(spec.data.augment, data.train.imageShape, fill, spec.seed, spec.data.batchSize);
    if (made instanceof AugmentThreads) this.cleanups.push(() => made.close());
    this.augment = made;
    const ringPort = await this.ringServer.listen(o.bindHost, spec.cluster.ringPort);
    const health = (): { ok: boolean; detail: string } => ({
      ok: this.life.fatal === undefined,
      detail: this.life.fatal ?? 'ok',
    });
    const http = await startHttpServer({
      host: spec.observe.metricsHost,
      port: spec.observe.workerMetricsPort,
      registry: [this.registry, this.processRegistry],
      health,
    });
    this.cleanups.push(() => http.close());
    // Same seeded init everywhere, but the broadcast decides: a user model need not be seeded.
    const model = buildModel(spec.model, data.sampleShape, data.train.classes, spec.seed);
    const startNotes = prepareModel(spec, model);
    const teacher = await loadTeacher(spec, model);
    if (teacher !== undefined) this.cleanups.push(() => void teacher.dispose());
    this.opened = {
      ringPort,
      metricsUrl: `${http.url}/metrics`,
      model,
      startNotes,
      teacher,
      modelFingerprint: fingerprintModel(model),
    };
    return { kind: 'start' };
  }

  private async join(): Promise<LifeEvent> {
    const { spec, o } = this;
    const opened = required(this.opened, 'open');
    const joined = await this.client.join(
      {
        address: `${o.advertiseHost}:${opened.ringPort}`,
        rankHint: o.rankHint,
        configHash: trainingFingerprint(spec),
        metricsUrl: opened.metricsUrl,
        modelFingerprint: opened.modelFingerprint,
      },
      spec.cluster.connectTimeoutSec * 1000,
      spec.cluster.joinTimeoutSec * 1000,
      (attempt, delayMs, error) =>
        this.log.warn(
          { attempt, delayMs },
          `coordinator ${o.coordinator} not reachable yet (${error}); retrying in ${delayMs} ms`,
        ),
    );
    this.joined = joined;
    exportRankEnv({ rank: joined.rank, worldSize: joined.worldSize, localRank: localRankOf() });
    this.log = o.log.child({ rank: joined.rank, generation: joined.generation });
    this.log.info(
      { event: 'joined', ring: joined.ring, metricsUrl: opened.metricsUrl, stateSourceRank: joined.stateSourceRank },
      `joined as rank ${joined.rank} of ${joined.worldSize}`,
    );
    return { kind: 'joined', rank: joined.rank, world: joined.worldSize, generation: joined.generation };
  }

  /** One generation: set it up (a failure there is the run's), then train (a failure there may be the ring's). */
  private async train(): Promise<LifeEvent> {
    let gen: Generation;
    try {
      gen = await this.openGeneration(required(this.joined, 'join'));
    } catch (e) {
      return { kind: 'failed', error: failureOf(e) };
    }
    try {
      await this.initialize(gen);
      this.result = await gen.loop.run();
      // Last step points and event records out before this worker reports done.
      await gen.recorder.close().catch((e: unknown) => this.disk.skip('the last step records', e));
      return { kind: 'trained' };
    } catch (e) {
      await gen.recorder.close().catch(() => undefined);
      return { kind: 'train-failed', error: failureOf(e) };
    }
  }

  private async openGeneration(joined: JoinResult): Promise<Generation> {
    const rank = joined.rank;
    const world = joined.worldSize;
    const metrics = this.generationMetrics(joined);
    const { comm, abort } = await connectRing(this.ringContext(), this.ringServer, joined);
    this.abortRing = abort;
    this.progress.generation = joined.generation;
    this.progress.suspects = [];
    this.heartbeat.start();
    this.startTracer(rank);
    if (rank === 0 && !this.rankZeroReady) this.prepareRankZero();
    const recorder = new RunRecorder({
      dir: this.o.outDir,
      rank,
      worldSize: world,
      epochs: this.spec.train.epochs,
      log: this.log,
      registry: this.registry,
      logEverySteps: this.spec.observe.logEverySteps,
      sink: { sendProgress: (u) => this.client.reportProgress(joined.generation, u) },
    });
    const gen: Generation = {
      joined,
      rank,
      world,
      comm,
      recorder,
      loop: this.makeLoop(joined, comm, metrics, recorder),
    };
    this.gen = gen;
    if (rank === 0) {
      const { loop } = gen;
      const note =
        loop.fused !== undefined
          ? 'native fused step (forward, loss and backward in one call)'
          : `tfjs (${loop.fusedWhy ?? 'no fused step'})`;
      this.log.info(
        { event: 'step-path', fused: loop.fused !== undefined, why: loop.fusedWhy },
        `training step: ${note}`,
      );
    }
    return gen;
  }

  /** Rank and world may change between generations: metrics start over with the new labels. */
  private generationMetrics(joined: JoinResult): WorkerMetrics {
    const { rank, worldSize: world } = joined;
    this.registry.clear();
    const metrics = createWorkerMetrics(this.registry, rank, this.env.backend.name, this.env.backend.kernels);
    metrics.generation.set(joined.generation);
    // Payloads go to the successor; a tcp link may switch to shared memory once it has answered.
    this.gauge.startGeneration(
      metrics,
      world > 1 ? (rank + 1) % world : undefined,
      this.spec.cluster.transport === 'grpc' ? 'grpc' : 'socket',
    );
    this.processRegistry.setDefaultLabels({ rank: String(rank) });
    return metrics;
  }

  private startTracer(rank: number): void {
    if (this.o.traceFile === undefined || this.tracer !== undefined) return;
    // '{rank}' in the path gives every rank a file of its own (launch --trace merges them).
    const t = new TraceWriter(this.o.traceFile.split('{rank}').join(String(rank)), rank);
    t.traceGc();
    this.tracer = t;
    this.cleanups.push(() => t.close());
  }

  /** Rank 0 writes the run's files: a directory it cannot use stops it here, not at the first epoch's end. */
  private prepareRankZero(): void {
    const { spec, o } = this;
    makeDirectory(o.outDir, DIRECTORY_USES.run);
    if (writesCheckpoints(spec)) makeDirectory(checkpointDirOf(spec, o.outDir), DIRECTORY_USES.checkpoints);
    this.log.info(
      { event: 'model-summary', lines: summarizeModel(required(this.opened, 'open').model) },
      'model summary',
    );
    for (const n of required(this.opened, 'open').startNotes) this.log.info({ event: n.event, ...n.fields }, n.msg);
    this.rankZeroReady = true;
  }

  private makeLoop(joined: JoinResult, comm: Communicator, metrics: WorkerMetrics, recorder: RunRecorder): TrainLoop {
    const { spec, o } = this;
    const { data } = this.env;
    const opened = required(this.opened, 'open');
    return new TrainLoop({
      spec,
      comm,
      model: opened.model,
      data: { train: data.train, val: data.val },
      shard: joined.shard,
      checkpointDir: checkpointDirOf(spec, o.outDir),
      resumeFrom: joined.resumeFromCheckpoint ? resumePointAfterLoss(o, spec, this.log) : o.resumeFrom,
      log: this.log,
      metrics,
      traceSpans: o.traceFile !== undefined,
      teacher: opened.teacher,
      augment: this.augment,
      hooks: this.hooks(joined, comm, recorder),
      clock: this.clock,
    });
  }

  private hooks(joined: JoinResult, comm: Communicator, recorder: RunRecorder): TrainHooks {
    const { rank, worldSize: world, generation } = joined;
    return loopHooks({
      spec: this.spec,
      outDir: this.o.outDir,
      comm,
      recorder,
      client: this.client,
      log: this.log,
      rank,
      world,
      generation,
      progress: this.progress,
      disk: this.disk,
      life: () => this.life,
      tracer: () => this.tracer,
      tierUp: this.env.tierUp,
    });
  }

  /** The start state: the live state of the ring's source, else rank 0's checkpoint or fresh weights. */
  private async initialize(gen: Generation): Promise<void> {
    const { joined, loop, rank } = gen;
    if (joined.stateSourceRank >= 0) {
      await loop.initialize({
        sourceRank: joined.stateSourceRank,
        state: rank === joined.stateSourceRank ? this.snapshot : undefined,
      });
      return;
    }
    const resumed = await loop.initialize();
    if (resumed !== undefined && rank === 0) trimMetrics(this.o.outDir, loop.counters.epoch);
    if (resumed === undefined && rank === 0 && this.spec.checkpoint.atStart)
      await saveInitialModel(required(this.opened, 'open').model, this.env.data.preprocess, this.o.outDir, this.log);
  }

  private reportBroken(suspects: number[], error: Failure): void {
    this.progress.suspects = suspects;
    this.log.warn(
      { event: 'ring-broken', suspects },
      `ring broken (${error.message}); asking the coordinator what to do`,
    );
  }

  /** A new ring is forming: keep the live state to hand on (or to be replaced by the source's). */
  private keepState(reason: string): void {
    const loop = required(this.gen, 'train').loop;
    this.snapshot = loop.snapshot();
    this.log.warn(
      { event: 'rejoin', reason, step: loop.counters.step },
      `re-joining: ${reason} (keeping the state of step ${loop.counters.step})`,
    );
  }

  private async finish(): Promise<LifeEvent> {
    const gen = required(this.gen, 'train');
    const { data } = this.env;
    const model = required(this.opened, 'open').model;
    const result = required(this.result, 'train');
    this.summary = await finishRun({
      spec: this.spec,
      outDir: this.o.outDir,
      data,
      model,
      comm: gen.comm,
      loop: gen.loop,
      result,
      client: this.client,
      heartbeat: this.heartbeat,
      log: this.log,
      rank: gen.rank,
      world: gen.world,
      clock: this.clock,
    });
    return { kind: 'finished' };
  }
}

/** What an earlier action set up; its absence is a bug in the life cycle, not bad input. */
function required<T>(value: T | undefined, after: string): T {
  if (value === undefined) throw new Error(`worker life cycle: used before '${after}' set it up`);
  return value;
}
