/**
 * The worker process, top to bottom: pick a backend, load the data, open the ring port, join,
 * take rank 0's weights, then for each step compute local gradients, average them over the ring
 * and apply the same update as every other rank. Each epoch ends with a distributed evaluation
 * whose sums are all-reduced, so every rank sees the same metrics.
 */
import * as path from 'node:path';
import { Registry } from 'prom-client';
import { Communicator, createRingEndpoint } from '../allreduce';
import { selectBackend } from '../compute';
import { RingtrainError, isRingtrainError } from '../config/errors';
import type { JobSpec } from '../config/job-spec';
import { trainingFingerprint } from '../config/load';
import { augmenter, loadDataset, savePreprocess } from '../data';
import { createWorkerMetrics, startHttpServer, type Logger } from '../observe';
import { buildModel, saveModelToDir, summarizeModel } from '../train';
import { RunRecorder } from '../report/run-recorder';
import { CoordinatorClient } from './coordinator-client';
import { HeartbeatLoop, type Progress } from './heartbeat-loop';
import { appendMetrics, checkpointDirOf, trimMetrics } from './run-dir';
import { evaluateSplit } from './evaluate-split';
import { TrainLoop } from './train-loop';

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

export async function runWorker(o: WorkerOptions): Promise<WorkerSummary> {
  const { spec } = o;
  let log = o.log;
  const backend = await selectBackend(spec.backend, (msg) => log.info(msg));
  log.info({ backend: backend.name, tried: backend.tried }, `compute backend: ${backend.name}`);
  const data = loadDataset(spec.data);

  const timeoutMs = spec.cluster.collectiveTimeoutSec * 1000;
  const ringServer = createRingEndpoint(spec.cluster.transport, spec.name, timeoutMs, o.token, (reason) =>
    log.warn({ event: 'refused' }, `refused ring traffic: ${reason}`),
  );
  const registry = new Registry();
  const client = new CoordinatorClient(o.coordinator, spec.name, o.workerId, o.token);
  const cleanups: (() => Promise<void> | void)[] = [() => client.close(), () => ringServer.close()];
  let fatal: string | undefined;
  let heartbeat: HeartbeatLoop | undefined;
  let rank = -1;
  try {
    const ringPort = await ringServer.listen(o.bindHost, 0);
    const http = await startHttpServer({ host: spec.observe.metricsHost, port: spec.observe.workerMetricsPort, registry, health: () => ({ ok: fatal === undefined, detail: fatal ?? 'ok' }) });
    cleanups.push(() => http.close());

    const joined = await client.join(
      { address: `${o.advertiseHost}:${ringPort}`, rankHint: o.rankHint, configHash: trainingFingerprint(spec), metricsUrl: `${http.url}/metrics` },
      spec.cluster.connectTimeoutSec * 1000,
      spec.cluster.joinTimeoutSec * 1000,
      (attempt, delayMs, error) => log.warn({ attempt, delayMs }, `coordinator ${o.coordinator} not reachable yet (${error}); retrying in ${delayMs} ms`),
    );
    rank = joined.rank;
    const world = joined.worldSize;
    log = log.child({ rank, generation: joined.generation });
    log.info({ event: 'joined', ring: joined.ring, metricsUrl: `${http.url}/metrics` }, `joined as rank ${rank} of ${world}`);
    const metrics = createWorkerMetrics(registry, rank, backend.name);
    metrics.generation.set(joined.generation);

    const transport = await ringServer.attach({ job: spec.name, generation: joined.generation, rank, worldSize: world }, joined.ring.map((p) => p.address));
    const comm = new Communicator(transport, {
      dtype: spec.cluster.compression === 'none' ? 'fp32' : spec.cluster.compression,
      bucketElements: Math.floor((spec.cluster.bucketCapMb * 1024 * 1024) / 4),
    });
    const progress: Progress = { generation: joined.generation, step: 0, epoch: 0 };
    heartbeat = new HeartbeatLoop(client, () => progress, spec.cluster.heartbeatIntervalSec * 1000, spec.cluster.leaseTimeoutSec * 1000, (reason) => {
      fatal = reason;
      transport.abort(new RingtrainError('JOB_FAILED', reason));
    });
    heartbeat.start();

    // Same seeded init everywhere, but rank 0's weights win: a user model need not be seeded.
    const model = buildModel(spec.model, data.sampleShape, data.train.classes, spec.seed);
    if (rank === 0) log.info({ event: 'model-summary', lines: summarizeModel(model) }, 'model summary');
    const recorder = new RunRecorder({
      dir: o.outDir,
      rank,
      worldSize: world,
      epochs: spec.train.epochs,
      log,
      registry,
      sink: { sendProgress: (u) => client.reportProgress(joined.generation, u) },
    });
    cleanups.push(() => recorder.close());
    const loop = new TrainLoop({
      spec,
      comm,
      model,
      data: { train: data.train, val: data.val },
      shard: joined.shard,
      checkpointDir: checkpointDirOf(spec, o.outDir),
      resumeFrom: o.resumeFrom,
      log,
      metrics,
      // Padding is a black pixel as the model sees it: raw 0, normalized.
      augment: augmenter(spec.data.augment, data.train.imageShape, -(data.preprocess.mean[0] ?? 0) / (data.preprocess.std[0] ?? 1), spec.seed),
      hooks: {
        checkAbort: () => {
          if (fatal !== undefined) throw new RingtrainError('JOB_FAILED', fatal);
        },
        onStep: (step, epoch) => {
          progress.step = step;
          progress.epoch = epoch;
        },
        onStepDetail: (s) => recorder.onStep(s),
        wantsDiagnostics: (stepInEpoch, stepsInEpoch) => recorder.wantsDiagnostics(stepInEpoch, stepsInEpoch),
        onDiagnostics: (d) => void recorder.onDiagnostics(d),
        onEpoch: async (e) => {
          // Every rank's time split, all-gathered (every rank is here at the same point).
          const timing = recorder.packEpochTiming();
          await comm.allReduceSum(timing);
          recorder.onEpoch({ epoch: e.epoch, step: e.step, train: e.train, val: e.val, samplesPerSec: e.samplesPerSec, ranks: timing });
          if (rank !== 0) return;
          const extra = { lr: e.lr, gradNorm: e.gradNorm, skippedSteps: e.skippedSteps, clippedSteps: e.clippedSteps };
          appendMetrics(o.outDir, [
            { epoch: e.epoch, split: 'train', loss: e.train.loss, accuracy: e.train.accuracy, samplesPerSec: e.samplesPerSec, ...extra },
            { epoch: e.epoch, split: 'val', loss: e.val.loss, accuracy: e.val.accuracy, samplesPerSec: e.evalSamplesPerSec },
          ]);
          log.info(
            { event: 'epoch', epoch: e.epoch, epochs: e.epochs, step: e.step, lr: e.lr, train: e.train, val: e.val, samplesPerSec: e.samplesPerSec, seconds: e.seconds, time: e.time, gradNorm: e.gradNorm, skippedSteps: e.skippedSteps, stopEarly: e.stopEarly },
            `epoch ${e.epoch}/${e.epochs}: train loss ${e.train.loss.toFixed(4)} acc ${(100 * e.train.accuracy).toFixed(2)}%, val loss ${e.val.loss.toFixed(4)} acc ${(100 * e.val.accuracy).toFixed(2)}%, lr ${e.lr.toPrecision(3)}, ${e.samplesPerSec.toFixed(0)} samples/s`,
          );
          if (e.stopEarly) log.info({ event: 'early-stop', epoch: e.epoch }, `early stopping after epoch ${e.epoch}: val ${spec.train.monitor} did not improve for ${spec.train.earlyStopping.patience} epochs`);
          await client.report(joined.generation, e.step, e.step * spec.data.batchSize * spec.train.accumulate * world, [
            { epoch: e.epoch, split: 'train', loss: e.train.loss, accuracy: e.train.accuracy, samplesPerSec: e.samplesPerSec, samples: e.train.samples },
            { epoch: e.epoch, split: 'val', loss: e.val.loss, accuracy: e.val.accuracy, samplesPerSec: 0, samples: e.val.samples },
          ]);
        },
      },
    });
    const resumed = await loop.initialize();
    if (resumed !== undefined && rank === 0) trimMetrics(o.outDir, loop.counters.epoch);
    const result = await loop.run();
    // Last step points and event records out before this worker reports done.
    await recorder.close();
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

    if (data.val !== data.test) {
      // Validation was a hold-out: report the untouched test set once, at the end.
      const test = await evaluateSplit(model, data.test, comm);
      if (rank === 0) log.info({ event: 'test', test }, `test loss ${test.loss.toFixed(4)}${Number.isNaN(test.accuracy) ? `, mse ${test.mse?.toFixed(4)}, mae ${test.mae?.toFixed(4)}` : ` acc ${(100 * test.accuracy).toFixed(2)}%`} on ${test.samples} test samples`);
    }
    const weights = new Float32Array(layout.size);
    layout.readWeights(weights);
    if (rank === 0) {
      const modelDir = path.join(o.outDir, 'model');
      await saveModelToDir(model, modelDir);
      savePreprocess(modelDir, data.preprocess);
      log.info({ event: 'model-saved', dir: modelDir }, `model saved to ${modelDir}`);
    }
    // Nobody reports done before every replica has finished its last collective.
    await comm.barrier();
    heartbeat.stop();
    await client.finish(true, '');
    log.info({ event: 'finished', step }, 'worker finished');
    model.dispose();
    return { rank, worldSize: world, steps: step, final, weights, stoppedEarly: result.stoppedEarly, restoredEpoch: result.restoredEpoch };
  } catch (e) {
    heartbeat?.stop();
    const err = fatal !== undefined && !(isRingtrainError(e) && e.code === 'CONFIG_INVALID') ? new RingtrainError('JOB_FAILED', fatal) : e;
    const message = err instanceof Error ? err.message : String(err);
    await client.finish(false, message).catch(() => undefined);
    throw err;
  } finally {
    for (const c of cleanups.reverse()) await c();
  }
}
