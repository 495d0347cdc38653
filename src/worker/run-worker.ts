/**
 * The worker process, top to bottom: pick a backend, load the data, open the ring port, join,
 * take rank 0's weights, then for each step compute local gradients, average them over the ring
 * and apply the same update as every other rank. Each epoch ends with a distributed evaluation
 * whose sums are all-reduced, so every rank sees the same metrics.
 */
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { Registry } from 'prom-client';
import { Communicator, createRingEndpoint } from '../allreduce';
import { selectBackend } from '../compute';
import { retainFreedMemory } from '../native';
import { RingtrainError, isRingtrainError, DIRECTORY_USES, makeDirectory } from '../core';
import { type JobSpec, type TlsFiles, trainingFingerprint } from '../config';
import { AugmentThreads, loadDataset, savePreprocess, startAugmentation, type Augmentation } from '../data';
import {
  createProcessMetrics,
  createWorkerMetrics,
  startHttpServer,
  type Logger,
  type WorkerMetrics,
  TraceWriter,
} from '../observe';
import { ParamLayout, buildModel, saveModelToDir, summarizeModel } from '../train';
import { RunRecorder, writeHParams, type StepInfo } from '../record';
import { CoordinatorClient } from './coordinator-client';
import { HeartbeatLoop, type Progress } from './heartbeat-loop';
import { appendMetrics, checkpointDirOf, trimMetrics, writeEvaluation, writesCheckpoints } from './run-dir';
import { evaluateSplit, evaluationOf, splitRecord, withoutConfusion } from './evaluate-split';
import { findLatestCheckpoint, type Checkpoint } from './checkpoint-store';
import { TrainLoop } from './train-loop';
import { FullDiskGuard, retryWhileFull } from './full-disk';
import { loadTeacher, prepareModel } from './fine-tune';
import { tuneJit } from './jit-tiering';
import { exportRankEnv, localRankOf } from './rank-env';
import type { TrainResult } from './train-types';

export interface WorkerOptions {
  spec: JobSpec;
  /** host:port of the coordinator. */
  coordinator: string;
  workerId: string;
  /** Requested rank (RANK, JOB_COMPLETION_INDEX) or -1. */
  rankHint: number;
  /** Host name or IP that ring neighbours can dial. */
  advertiseHost: string;
  /** Interface the ring server binds to. */
  bindHost: string;
  outDir: string;
  /** Checkpoint, checkpoint directory or run directory to resume from (rank 0 reads it). */
  resumeFrom?: string;
  log: Logger;
  /** Join token for both services (security.tokenFile / RINGTRAIN_JOIN_TOKEN); undefined = none. */
  token?: string;
  /** Chrome trace of rank 0's steps (--trace FILE): chrome://tracing or Perfetto opens it. */
  traceFile?: string;
  /** TLS (or mTLS) for the coordinator connection and the ring; undefined = plain TCP. */
  tls?: TlsFiles;
  /** Bound to CPUs of its own (worker --cpus, launch --cpu-bind cores): shared-memory polling then takes no other rank's CPU. */
  ownCpus?: boolean;
  /** Hears that the coordinator stayed silent for a lease (launch then replaces a hung one). */
  onCoordinatorLost?: (reason: string) => void;
}

export interface WorkerSummary {
  rank: number;
  worldSize: number;
  steps: number;
  final: { trainLoss: number; trainAccuracy: number; valLoss: number; valAccuracy: number };
  /** The replica's final weights, flat: tests compare them across ranks. */
  weights: Float32Array;
  stoppedEarly: boolean;
  /** Epoch whose weights early stopping's restoreBest put back (0 = none). */
  restoredEpoch: number;
}

/** Errors a re-formed ring can cure (a lost or restarted peer); a size mismatch is a config error. */
const RECOVERABLE = new Set(['UNAVAILABLE', 'TIMEOUT', 'ABORTED', 'PEER_REFUSED', 'STALE_GENERATION', 'REGENERATING', 'NOT_MEMBER']);

/**
 * One worker process. With `cluster.maxRestarts` > 0 the worker is elastic: when its ring breaks
 * (a neighbour died, the coordinator re-forms the ring or restarted), it keeps its live training
 * state, joins the next generation, and either hands that state to the new ring (when the
 * coordinator names it the state source) or takes the source's, then trains on from there.
 */
export async function runWorker(o: WorkerOptions): Promise<WorkerSummary> {
  const { spec } = o;
  let log = o.log;
  // Before any ring traffic: the buffers messages pass through are malloc'd and freed per message.
  const memory = retainFreedMemory();
  const jit = tuneJit();
  const backend = await selectBackend(spec.backend, (msg) => log.info(msg));
  const kernelNote = backend.kernelsWhy === undefined ? backend.kernels : `${backend.kernels}, not native: ${backend.kernelsWhy}`;
  // Which GC the process runs (launch gives workers --single-threaded-gc; see worker-node-flags.ts).
  const gc = process.execArgv.includes('--single-threaded-gc') ? 'single-threaded' : 'concurrent';
  log.info({ backend: backend.name, kernels: backend.kernels, tried: backend.tried, gc, malloc: memory.applied ? 'retain' : 'default', jit: jit.applied ? 'early' : 'default' }, `compute backend: ${backend.name} (kernels: ${kernelNote}; gc: ${gc}; malloc: ${memory.note}; jit: ${jit.note})`);
  const data = loadDataset(spec.data);
  const elastic = spec.cluster.maxRestarts > 0;

  const timeoutMs = spec.cluster.collectiveTimeoutSec * 1000;
  /** This generation's ringtrain_ring_link_info (metrics start over with each generation). */
  let ringLink: WorkerMetrics['ringLink'] | undefined;
  /** Refusals over the whole run: each generation's registry starts its counter from here. */
  let ringRefused = 0;
  let ringRefusedCounter: WorkerMetrics['ringRefused'] | undefined;
  /** This generation's pair sums through a shared file: a later transport note must not hide that. */
  let sharedFileLink = false;
  const ringServer = createRingEndpoint(spec.cluster.transport, spec.name, timeoutMs, {
    token: o.token,
    onRefused: (reason) => {
      ringRefused += 1;
      ringRefusedCounter?.inc();
      log.warn({ event: 'refused' }, `refused ring traffic: ${reason}`);
    },
    tls: o.tls,
    sharedMemoryBytes: spec.cluster.sharedMemoryMb * 2 ** 20,
    pollMicros: spec.cluster.pollMicros,
    ownCpus: o.ownCpus === true,
    onNote: (note, link) => {
      log.info({ event: 'ring-path' }, note);
      if (sharedFileLink) return;
      ringLink?.reset();
      ringLink?.set({ peer: String(link.to), path: link.shared ? 'shared-memory' : 'socket' }, 1);
    },
  });
  const registry = new Registry();
  // CPU, memory, GC and event-loop lag: kept across generations (the ringtrain series start over).
  const processRegistry = new Registry();
  createProcessMetrics(processRegistry);
  const client = new CoordinatorClient(o.coordinator, spec.name, o.workerId, o.token, o.tls);
  const cleanups: (() => Promise<void> | void)[] = [() => client.close(), () => ringServer.close()];
  let augment: Augmentation | undefined;
  let fatal: string | undefined;
  let regenerating: string | undefined;
  let abortRing: (e: Error) => void = () => undefined;
  const progress: Progress = { generation: 0, step: 0, epoch: 0, busySeconds: 0, commSeconds: 0 };
  // An elastic worker rides out a coordinator restart; a fixed one gives up after a lease.
  const coordinatorGraceMs = (elastic ? Math.max(spec.cluster.connectTimeoutSec, spec.cluster.leaseTimeoutSec) : spec.cluster.leaseTimeoutSec) * 1000;
  const disk = new FullDiskGuard(() => log);
  const heartbeat = new HeartbeatLoop(
    client,
    () => progress,
    spec.cluster.heartbeatIntervalSec * 1000,
    coordinatorGraceMs,
    {
      onFatal: (reason) => {
        fatal = reason;
        abortRing(new RingtrainError('JOB_FAILED', reason));
      },
      onCoordinatorLost: {
        lostMs: spec.cluster.leaseTimeoutSec * 1000,
        call: (reason) => {
          log.warn({ event: 'coordinator-lost' }, reason);
          o.onCoordinatorLost?.(reason);
        },
      },
      onRendezvous: elastic
        ? (reason) => {
            regenerating = reason;
            abortRing(new RingtrainError('REGENERATING', reason));
          }
        : undefined,
    },
  );
  let rank = -1;
  try {
    // Padding is a black pixel as the model sees it: raw 0, normalized. The threads outlive generations.
    const made = startAugmentation(spec.data.augment, data.train.imageShape, -(data.preprocess.mean[0] ?? 0) / (data.preprocess.std[0] ?? 1), spec.seed, spec.data.batchSize);
    if (made instanceof AugmentThreads) cleanups.push(() => made.close());
    augment = made;
    const ringPort = await ringServer.listen(o.bindHost, spec.cluster.ringPort);
    const http = await startHttpServer({ host: spec.observe.metricsHost, port: spec.observe.workerMetricsPort, registry: [registry, processRegistry], health: () => ({ ok: fatal === undefined, detail: fatal ?? 'ok' }) });
    cleanups.push(() => http.close());
    // Same seeded init everywhere, but the broadcast decides: a user model need not be seeded.
    const model = buildModel(spec.model, data.sampleShape, data.train.classes, spec.seed);
    const startNotes = prepareModel(spec, model);
    const teacher = await loadTeacher(spec, model);
    if (teacher !== undefined) cleanups.push(() => void teacher.dispose());
    /** This worker has been rank 0 before: its directories are checked and the model summary logged. */
    let rankZeroReady = false;
    let tracer: TraceWriter | undefined;
    const modelFingerprint = fingerprintModel(model);
    let snapshot: Checkpoint | undefined;

    for (;;) {
      const joined = await client.join(
        { address: `${o.advertiseHost}:${ringPort}`, rankHint: o.rankHint, configHash: trainingFingerprint(spec), metricsUrl: `${http.url}/metrics`, modelFingerprint },
        spec.cluster.connectTimeoutSec * 1000,
        spec.cluster.joinTimeoutSec * 1000,
        (attempt, delayMs, error) => log.warn({ attempt, delayMs }, `coordinator ${o.coordinator} not reachable yet (${error}); retrying in ${delayMs} ms`),
      );
      rank = joined.rank;
      const world = joined.worldSize;
      exportRankEnv({ rank, worldSize: world, localRank: localRankOf() });
      log = o.log.child({ rank, generation: joined.generation });
      log.info({ event: 'joined', ring: joined.ring, metricsUrl: `${http.url}/metrics`, stateSourceRank: joined.stateSourceRank }, `joined as rank ${rank} of ${world}`);
      // Rank and world may change between generations: metrics start over with the new labels.
      registry.clear();
      const metrics = createWorkerMetrics(registry, rank, backend.name, backend.kernels);
      metrics.generation.set(joined.generation);
      ringRefusedCounter = metrics.ringRefused;
      metrics.ringRefused.inc(ringRefused);
      // Payloads go to the successor; a tcp link may switch to shared memory once it has answered (onNote above).
      ringLink = metrics.ringLink;
      sharedFileLink = false;
      processRegistry.setDefaultLabels({ rank: String(rank) });
      if (world > 1) ringLink.set({ peer: String((rank + 1) % world), path: spec.cluster.transport === 'grpc' ? 'grpc' : 'socket' }, 1);
      const transport = await ringServer.attach({ job: spec.name, generation: joined.generation, rank, worldSize: world }, joined.ring.map((p) => p.address));
      abortRing = (e) => transport.abort(e);
      const comm = new Communicator(transport, {
        dtype: spec.cluster.compression === 'none' ? 'fp32' : spec.cluster.compression,
        bucketElements: Math.floor((spec.cluster.bucketCapMb * 1024 * 1024) / 4),
        onNote: (note, sharedFile) => {
          log.info({ event: 'allreduce-path' }, note);
          // The pair's all-reduces bypass the transport: the link metric says so, as the log does.
          if (sharedFile === true && world > 1) {
            sharedFileLink = true;
            ringLink?.reset();
            ringLink?.set({ peer: String((rank + 1) % world), path: 'shared-file' }, 1);
          }
        },
      });
      progress.generation = joined.generation;
      progress.suspects = [];
      regenerating = undefined;
      heartbeat.start();
      if (o.traceFile !== undefined && tracer === undefined) {
        // '{rank}' in the path gives every rank a file of its own (launch --trace merges them).
        const t = new TraceWriter(o.traceFile.split('{rank}').join(String(rank)), rank);
        t.traceGc();
        tracer = t;
        cleanups.push(() => t.close());
      }
      if (rank === 0 && !rankZeroReady) {
        // Rank 0 writes the run's files: a directory it cannot use stops it here, not at the first epoch's end.
        makeDirectory(o.outDir, DIRECTORY_USES.run);
        if (writesCheckpoints(spec)) makeDirectory(checkpointDirOf(spec, o.outDir), DIRECTORY_USES.checkpoints);
        log.info({ event: 'model-summary', lines: summarizeModel(model) }, 'model summary');
        for (const n of startNotes) log.info({ event: n.event, ...n.fields }, n.msg);
        rankZeroReady = true;
      }
      const recorder = new RunRecorder({
        dir: o.outDir,
        rank,
        worldSize: world,
        epochs: spec.train.epochs,
        log,
        registry,
        logEverySteps: spec.observe.logEverySteps,
        sink: { sendProgress: (u) => client.reportProgress(joined.generation, u) },
      });
      const loop = new TrainLoop({
        spec,
        comm,
        model,
        data: { train: data.train, val: data.val },
        shard: joined.shard,
        checkpointDir: checkpointDirOf(spec, o.outDir),
        resumeFrom: joined.resumeFromCheckpoint ? resumePointAfterLoss(o, spec, log) : o.resumeFrom,
        log,
        metrics,
        traceSpans: o.traceFile !== undefined,
        teacher,
        augment,
        hooks: {
          checkAbort: () => {
            if (fatal !== undefined) throw new RingtrainError('JOB_FAILED', fatal);
            if (regenerating !== undefined) throw new RingtrainError('REGENERATING', regenerating);
          },
          onStep: (step, epoch) => {
            progress.step = step;
            progress.epoch = epoch;
          },
          onStepDetail: (st) => {
            progress.busySeconds = (progress.busySeconds ?? 0) + st.seconds.data + st.seconds.compute + st.seconds.update;
            progress.commSeconds = (progress.commSeconds ?? 0) + st.seconds.communication;
            if (tracer !== undefined) traceStep(tracer, st, joined.generation);
            disk.run('step records', () => recorder.onStep(st));
          },
          onWriteFailed: (what, e) => disk.skip(what, e),
          wantsDiagnostics: (stepInEpoch, stepsInEpoch) => recorder.wantsDiagnostics(stepInEpoch, stepsInEpoch),
          onDiagnostics: (d) => void disk.run('diagnostics records', () => recorder.onDiagnostics(d)),
          onEpoch: async (e) => {
            // Every rank's time split, all-gathered (every rank is here at the same point).
            const timing = recorder.packEpochTiming();
            await comm.allReduceSum(timing);
            disk.run('epoch records', () =>
              recorder.onEpoch({ epoch: e.epoch, step: e.step, train: e.train, val: e.val, samplesPerSec: e.samplesPerSec, ranks: timing, gradNorm: { mean: e.gradNorm, max: e.maxGradNorm, first: e.firstGradNorm }, skippedSteps: e.skippedSteps, stepsInEpoch: e.stepsInEpoch }),
            );
            if (rank !== 0) return;
            const extra = { lr: e.lr, gradNorm: e.gradNorm, maxGradNorm: e.maxGradNorm, skippedSteps: e.skippedSteps, clippedSteps: e.clippedSteps, ...(e.sparsity === undefined ? {} : { sparsity: e.sparsity }) };
            disk.run(`epoch ${e.epoch}'s metrics line`, () =>
              appendMetrics(o.outDir, [
                { epoch: e.epoch, split: 'train', loss: e.train.loss, ...splitRecord(e.train), samplesPerSec: e.samplesPerSec, ...extra },
                { epoch: e.epoch, split: 'val', loss: e.val.loss, ...splitRecord(e.val), samplesPerSec: e.evalSamplesPerSec },
              ]),
            );
            log.info(
              { event: 'epoch', epoch: e.epoch, epochs: e.epochs, step: e.step, lr: e.lr, train: withoutConfusion(e.train), val: withoutConfusion(e.val), samplesPerSec: e.samplesPerSec, seconds: e.seconds, time: e.time, gradNorm: e.gradNorm, maxGradNorm: e.maxGradNorm, skippedSteps: e.skippedSteps, stopEarly: e.stopEarly, sparsity: e.sparsity },
              `epoch ${e.epoch}/${e.epochs}: train loss ${e.train.loss.toFixed(4)} acc ${(100 * e.train.accuracy).toFixed(2)}%, val loss ${e.val.loss.toFixed(4)} acc ${(100 * e.val.accuracy).toFixed(2)}%, lr ${e.lr.toPrecision(3)}, ${e.samplesPerSec.toFixed(0)} samples/s${e.sparsity === undefined ? '' : `, sparsity ${(100 * e.sparsity).toFixed(1)}%`}`,
            );
            if (e.stopEarly) log.info({ event: 'early-stop', epoch: e.epoch }, `early stopping after epoch ${e.epoch}: val ${spec.train.monitor} did not improve for ${spec.train.earlyStopping.patience} epochs`);
            // Best effort: the coordinator may be restarting; training does not wait for it.
            await client
              .report(joined.generation, e.step, e.step * spec.data.batchSize * spec.train.accumulate * world, [
                { epoch: e.epoch, split: 'train', loss: e.train.loss, accuracy: e.train.accuracy, samplesPerSec: e.samplesPerSec, samples: e.train.samples },
                { epoch: e.epoch, split: 'val', loss: e.val.loss, accuracy: e.val.accuracy, samplesPerSec: 0, samples: e.val.samples },
              ])
              .catch((err: unknown) => log.warn({ event: 'report-failed' }, `epoch report to the coordinator failed: ${(err as Error).message}`));
          },
        },
      });
      if (rank === 0) {
        const note = loop.fused !== undefined ? 'native fused step (forward, loss and backward in one call)' : `tfjs (${loop.fusedWhy ?? 'no fused step'})`;
        log.info({ event: 'step-path', fused: loop.fused !== undefined, why: loop.fusedWhy }, `training step: ${note}`);
      }

      let result: TrainResult;
      try {
        if (joined.stateSourceRank >= 0) {
          await loop.initialize({ sourceRank: joined.stateSourceRank, state: rank === joined.stateSourceRank ? snapshot : undefined });
        } else {
          const resumed = await loop.initialize();
          if (resumed !== undefined && rank === 0) trimMetrics(o.outDir, loop.counters.epoch);
          if (resumed === undefined && rank === 0 && spec.checkpoint.atStart) await saveInitialModel(model, data.preprocess, o.outDir, log);
        }
        result = await loop.run();
        // Last step points and event records out before this worker reports done.
        await recorder.close().catch((e: unknown) => disk.skip('the last step records', e));
      } catch (e) {
        await recorder.close().catch(() => undefined);
        if (fatal !== undefined) throw new RingtrainError('JOB_FAILED', fatal);
        const code = isRingtrainError(e) ? e.code : 'INTERNAL';
        if (!elastic || !RECOVERABLE.has(code)) throw e;
        if (regenerating === undefined) {
          // A neighbour broke the collective: name both neighbours and wait for the verdict.
          progress.suspects = world > 1 ? [...new Set([(rank + 1) % world, (rank - 1 + world) % world])] : [];
          log.warn({ event: 'ring-broken', suspects: progress.suspects }, `ring broken (${(e as Error).message}); asking the coordinator what to do`);
          // As long as the coordinator may take to come back (a hung one is being replaced meanwhile).
          const verdictMs = Math.max((spec.cluster.leaseTimeoutSec + 2 * spec.cluster.heartbeatIntervalSec) * 1000, coordinatorGraceMs) + 2000;
          await waitForVerdict(heartbeat, () => regenerating !== undefined || fatal !== undefined, verdictMs);
          if (fatal !== undefined) throw new RingtrainError('JOB_FAILED', fatal);
          if (regenerating === undefined) throw e;
        }
        snapshot = loop.snapshot();
        // Set by the heartbeat callback meanwhile; TypeScript cannot see through that.
        const why = regenerating as string | undefined;
        log.warn({ event: 'rejoin', reason: why, step: loop.counters.step }, `re-joining: ${why ?? 'ring re-forming'} (keeping the state of step ${loop.counters.step})`);
        continue;
      }

      return await finishRun({ o, spec, data, model, comm, loop, result, client, heartbeat, log, rank, world });
    }
  } catch (e) {
    heartbeat.stop();
    const err = fatal !== undefined && !(isRingtrainError(e) && e.code === 'CONFIG_INVALID') ? new RingtrainError('JOB_FAILED', fatal) : e;
    const message = err instanceof Error ? err.message : String(err);
    // A worker the coordinator never admitted has no failure to report: its refusal was the answer.
    if (rank >= 0) await client.finish(false, message).catch(() => undefined);
    throw err;
  } finally {
    heartbeat.stop();
    for (const c of cleanups.reverse()) await c();
  }
}

/** checkpoint.atStart: the weights every rank starts from, in the format of the final model/. */
async function saveInitialModel(model: ReturnType<typeof buildModel>, preprocess: ReturnType<typeof loadDataset>['preprocess'], outDir: string, log: Logger): Promise<void> {
  const dir = path.join(outDir, 'model-initial');
  await saveModelToDir(model, dir);
  savePreprocess(dir, preprocess);
  log.info({ event: 'model-initial', dir }, `starting weights saved to ${dir}`);
}

/**
 * Nobody holds the live state any more (every worker was replaced): the latest checkpoint is the
 * best there is; without one the job starts over, and says so.
 */
function resumePointAfterLoss(o: WorkerOptions, spec: JobSpec, log: Logger): string | undefined {
  const dir = o.resumeFrom ?? checkpointDirOf(spec, o.outDir);
  if (dir !== '' && findLatestCheckpoint(dir, () => undefined) !== undefined) return dir;
  log.warn({ event: 'no-checkpoint' }, `no worker kept the training state and ${dir || 'no checkpoint directory'} holds no checkpoint: training starts over`);
  return undefined;
}

/** "<parameters>:<sha256 of the trainable shapes in order>": names differ between processes, shapes must not. */
function fingerprintModel(model: ReturnType<typeof buildModel>): string {
  const shapes = ParamLayout.ofModel(model).shapes();
  const params = shapes.reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0);
  return `${params}:${createHash('sha256').update(JSON.stringify(shapes)).digest('hex')}`;
}

/**
 * A step on the timeline: what the rank did, in order and at the times it did it (data, compute,
 * sending the gradients, preparing the next batch while they travel, waiting for the slowest
 * neighbour's first message, the exchange, the update), so a straggler stands out. The loop
 * records these stretches whenever a trace is written (traceSpans).
 */
function traceStep(t: TraceWriter, st: StepInfo, generation: number): void {
  for (const sp of st.spans ?? []) t.event({ name: sp.name, cat: 'step', ts: t.wallTime(sp.startMs), dur: 1000 * (sp.endMs - sp.startMs), args: { step: st.step, generation } });
}

/** Heartbeats every 200 ms until `decided()` or the deadline. */
async function waitForVerdict(heartbeat: HeartbeatLoop, decided: () => boolean, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (!decided() && Date.now() < until) {
    await heartbeat.beat();
    if (!decided()) await new Promise((r) => setTimeout(r, 200));
  }
}

interface FinishContext {
  o: WorkerOptions;
  spec: JobSpec;
  data: ReturnType<typeof loadDataset>;
  model: ReturnType<typeof buildModel>;
  comm: Communicator;
  loop: TrainLoop;
  result: TrainResult;
  client: CoordinatorClient;
  heartbeat: HeartbeatLoop;
  log: Logger;
  rank: number;
  world: number;
}

/** After the last epoch: test evaluation, the saved model, and a clean goodbye. */
async function finishRun(f: FinishContext): Promise<WorkerSummary> {
  const { o, data, model, comm, loop, result, client, heartbeat, log, rank, world } = f;
  const last = result.last;
  const val = result.val ?? last?.val;
  const final: WorkerSummary['final'] = {
    trainLoss: last?.train.loss ?? NaN,
    trainAccuracy: last?.train.accuracy ?? NaN,
    valLoss: val?.loss ?? NaN,
    valAccuracy: val?.accuracy ?? NaN,
  };
  const step = result.steps;
  const layout = loop.layout;
  // The saved weights on the test set: what `ringtrain eval` of the saved model computes. When
  // validation ran on the test set, the last evaluation (or restoreBest's) already is that.
  const test = data.val === data.test && val !== undefined ? val : await evaluateSplit(model, data.test, comm);
  const pr = result.pruning;
  if (rank === 0 && pr !== undefined) {
    const before = pr.before === undefined ? 'pruning never began' : `val loss ${pr.before.loss.toFixed(4)} acc ${(100 * pr.before.accuracy).toFixed(2)}% before pruning (${pr.before.epoch === 0 ? 'at the start' : `after epoch ${pr.before.epoch}`})`;
    log.info({ event: 'pruning', sparsity: pr.sparsity, before: pr.before, after: val === undefined ? undefined : withoutConfusion(val) }, `ringtrain: pruning: ${(100 * pr.sparsity).toFixed(1)}% of kernel weights are 0; ${before}, val loss ${(val?.loss ?? NaN).toFixed(4)} acc ${(100 * (val?.accuracy ?? NaN)).toFixed(2)}% after`);
  }
  const weights = new Float32Array(layout.size);
  layout.readWeights(weights);
  if (rank === 0) {
    if (data.val !== data.test) log.info({ event: 'test', test: withoutConfusion(test) }, `test loss ${test.loss.toFixed(4)}${Number.isNaN(test.accuracy) ? `, mse ${test.mse?.toFixed(4)}, mae ${test.mae?.toFixed(4)}` : ` acc ${(100 * test.accuracy).toFixed(2)}%`} on ${test.samples} test samples`);
    const modelDir = path.join(o.outDir, 'model');
    // Half the collective timeout: the other ranks wait for us at the barrier below.
    const budgetMs = (f.spec.cluster.collectiveTimeoutSec * 1000) / 2;
    await retryWhileFull(`saving the model to ${modelDir}`, async () => {
      await saveModelToDir(model, modelDir);
      savePreprocess(modelDir, data.preprocess);
    }, budgetMs, log);
    log.info({ event: 'model-saved', dir: modelDir }, `model saved to ${modelDir}`);
    const ending = { epochs: last?.epoch ?? loop.counters.epoch, stoppedEarly: result.stoppedEarly, restoredEpoch: result.restoredEpoch };
    writeEvaluation(o.outDir, { split: 'test', ...ending, ...evaluationOf(test, data.preprocess.classNames) });
    // The settings and final figures for TensorBoard's HParams tab; a run still finishes without them.
    const hparams = { worldSize: world, startSecs: Date.now() / 1000 - process.uptime(), endSecs: Date.now() / 1000, status: 'success' as const, steps: step, epochs: ending.epochs, test, val, train: last?.train };
    try {
      writeHParams(o.outDir, f.spec, hparams);
    } catch (e) {
      log.warn({ event: 'hparams-failed' }, `the HParams summary was not written: ${(e as Error).message}`);
    }
    log.info({ event: 'final', test: withoutConfusion(test), ...ending }, `the saved model on the test set: loss ${test.loss.toFixed(4)}${Number.isNaN(test.accuracy) ? `, mae ${test.mae?.toFixed(4)}` : `, accuracy ${(100 * test.accuracy).toFixed(2)}%`}${result.restoredEpoch > 0 ? ` (weights of epoch ${result.restoredEpoch})` : ''}`);
  }
  // Nobody reports done before every replica has finished its last collective.
  await comm.barrier();
  // Heartbeats go on until the coordinator has our goodbye: a coordinator hung right now is
  // noticed (onCoordinatorLost) and replaced like one hung mid-run.
  await finishWithRetry(client, f.spec.cluster.connectTimeoutSec * 1000);
  heartbeat.stop();
  // The process's high-water mark of resident memory (maxRSS is in KiB): what a memory limit must allow.
  const peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
  // Replicas end bit-identical: their digests let anyone compare them across ranks' logs.
  const weightsSha256 = createHash('sha256').update(new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength)).digest('hex');
  log.info({ event: 'finished', step, peakRssMb, worldSize: world, weightsSha256 }, `worker finished (peak resident memory ${peakRssMb} MB)`);
  model.dispose();
  return { rank, worldSize: world, steps: step, final, weights, stoppedEarly: result.stoppedEarly, restoredEpoch: result.restoredEpoch };
}

/** The coordinator may be restarting at the very end: keep telling it we are done. */
async function finishWithRetry(client: CoordinatorClient, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      await client.finish(true, '');
      return;
    } catch (e) {
      if (!isRingtrainError(e) || (e.code !== 'UNAVAILABLE' && e.code !== 'TIMEOUT') || Date.now() > until) throw e;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
