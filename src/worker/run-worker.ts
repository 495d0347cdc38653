/**
 * The worker process, top to bottom: pick a backend, load the data, open the ring port, join,
 * take rank 0's weights, then for each step compute local gradients, average them over the ring
 * and apply the same update as every other rank. Each epoch ends with a distributed evaluation
 * whose sums are all-reduced, so every rank sees the same metrics.
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { Registry } from 'prom-client';
import { Communicator, createRingEndpoint } from '../allreduce';
import { selectBackend } from '../compute';
import { RingtrainError, isRingtrainError } from '../config/errors';
import type { JobSpec } from '../config/job-spec';
import { trainingFingerprint } from '../config/load';
import { batchIndices, distributedIndices, gatherBatch, loadMnist, type Batch } from '../data';
import { createWorkerMetrics, startHttpServer, type Logger } from '../observe';
import { ParamLayout, buildModel, evaluateRange, saveModelToDir, summarizeModel } from '../train';
import { CoordinatorClient } from './coordinator-client';
import { ddpStep, syncInitialWeights, type DdpReplica } from './ddp-step';
import { HeartbeatLoop, type Progress } from './heartbeat-loop';
import { appendMetrics, type EpochRecord } from './run-dir';

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
  log: Logger;
}

export interface WorkerSummary {
  rank: number;
  worldSize: number;
  steps: number;
  final: { trainLoss: number; trainAccuracy: number; valLoss: number; valAccuracy: number };
  /** The replica's final weights, flat: tests compare them across ranks. */
  weights: Float32Array;
}

const seconds = (fromNs: bigint): number => Number(process.hrtime.bigint() - fromNs) / 1e9;

export async function runWorker(o: WorkerOptions): Promise<WorkerSummary> {
  const { spec } = o;
  let log = o.log;
  const backend = await selectBackend(spec.backend, (msg) => log.info(msg));
  log.info({ backend: backend.name, tried: backend.tried }, `compute backend: ${backend.name}`);
  const data = loadMnist({ dir: spec.data.dir, trainLimit: spec.data.trainLimit, testLimit: spec.data.testLimit });

  const timeoutMs = spec.cluster.collectiveTimeoutSec * 1000;
  const ringServer = createRingEndpoint(spec.cluster.transport, spec.name, timeoutMs);
  const registry = new Registry();
  const client = new CoordinatorClient(o.coordinator, spec.name, o.workerId);
  const cleanups: (() => Promise<void> | void)[] = [() => client.close(), () => ringServer.close()];
  let fatal: string | undefined;
  let heartbeat: HeartbeatLoop | undefined;
  let rank = -1;
  try {
    const ringPort = await ringServer.listen(o.bindHost, 0);
    const http = await startHttpServer({ host: spec.observe.metricsHost, port: 0, registry, health: () => ({ ok: fatal === undefined, detail: fatal ?? 'ok' }) });
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
    const model = buildModel(spec.model, [data.train.features], data.train.classes, spec.seed);
    const layout = ParamLayout.ofModel(model);
    if (rank === 0) log.info({ event: 'model-summary', lines: summarizeModel(model) }, 'model summary');
    const optimizer = tf.train.momentum(spec.train.lr, spec.train.momentum);
    const replica: DdpReplica = { model, layout, optimizer, comm, grads: new Float32Array(layout.size) };
    await syncInitialWeights(replica);
    const sums = new Float32Array(3);
    let batchBuf: Batch | undefined;
    let step = 0;
    let final: WorkerSummary['final'] = { trainLoss: NaN, trainAccuracy: NaN, valLoss: NaN, valAccuracy: NaN };

    for (let epoch = 0; epoch < spec.train.epochs; epoch++) {
      progress.epoch = epoch;
      const indices = distributedIndices({ datasetSize: data.train.count, worldSize: world, rank, epoch, seed: joined.shard.seed, shuffle: joined.shard.shuffle, dropLast: joined.shard.dropLast });
      const time = { data: 0, compute: 0, communication: 0, update: 0 };
      let lossSum = 0;
      let correct = 0;
      let seen = 0;
      const epochStart = process.hrtime.bigint();
      for (const idx of batchIndices(indices, spec.data.batchSize)) {
        if (fatal !== undefined) throw new RingtrainError('JOB_FAILED', fatal);
        const t = process.hrtime.bigint();
        batchBuf ??= { x: new Float32Array(spec.data.batchSize * data.train.features), y: new Int32Array(spec.data.batchSize) };
        const batch = gatherBatch(data.train, idx, batchBuf);
        time.data += seconds(t);
        const local = await ddpStep(replica, batch.x, batch.y, idx.length);
        const { compute: computeS, communication: commS, update: updateS } = local.seconds;
        time.compute += computeS;
        time.communication += commS;
        time.update += updateS;
        metrics.stepPhaseSeconds.inc({ phase: 'compute' }, computeS);
        metrics.stepPhaseSeconds.inc({ phase: 'communication' }, commS);
        metrics.stepPhaseSeconds.inc({ phase: 'update' }, updateS);
        metrics.allreduceDuration.observe(commS);
        metrics.allreduceBytes.inc(world > 1 ? (2 * (world - 1) * replica.grads.byteLength) / world : 0);
        metrics.samplesTotal.inc(idx.length);
        lossSum += local.loss * idx.length;
        correct += local.correct;
        seen += idx.length;
        step += 1;
        progress.step = step;
        metrics.step.set(step);
        metrics.stepDuration.observe(computeS + commS + updateS);
        // With one worker nothing above awaits I/O; yield so heartbeats and scrapes get served.
        if (world === 1) await new Promise((r) => setImmediate(r));
        if (spec.train.maxSteps > 0 && step >= spec.train.maxSteps) break;
      }
      const trainSeconds = seconds(epochStart);
      metrics.stepPhaseSeconds.inc({ phase: 'data' }, time.data);
      sums.set([lossSum, correct, seen]);
      await comm.allReduceSum(sums);
      const train = { loss: sums[0]! / sums[2]!, accuracy: sums[1]! / sums[2]!, samples: sums[2]! };
      const globalSamplesPerSec = train.samples / trainSeconds;

      const n = data.test.count;
      const evalStart = process.hrtime.bigint();
      const ev = evaluateRange(model, data.test.images, data.test.labels, Math.floor((rank * n) / world), Math.floor(((rank + 1) * n) / world));
      sums.set([ev.lossSum, ev.correct, ev.count]);
      await comm.allReduceSum(sums);
      const val = { loss: sums[0]! / sums[2]!, accuracy: sums[1]! / sums[2]! };
      const evalSamplesPerSec = sums[2]! / seconds(evalStart);
      final = { trainLoss: train.loss, trainAccuracy: train.accuracy, valLoss: val.loss, valAccuracy: val.accuracy };
      metrics.epoch.set(epoch + 1);
      metrics.loss.set({ split: 'train' }, train.loss);
      metrics.loss.set({ split: 'val' }, val.loss);
      metrics.accuracy.set({ split: 'train' }, train.accuracy);
      metrics.accuracy.set({ split: 'val' }, val.accuracy);

      if (rank === 0) {
        const records: EpochRecord[] = [
          { epoch: epoch + 1, split: 'train', loss: train.loss, accuracy: train.accuracy, samplesPerSec: globalSamplesPerSec },
          { epoch: epoch + 1, split: 'val', loss: val.loss, accuracy: val.accuracy, samplesPerSec: evalSamplesPerSec },
        ];
        appendMetrics(o.outDir, records);
        log.info(
          { event: 'epoch', epoch: epoch + 1, epochs: spec.train.epochs, step, train, val, samplesPerSec: globalSamplesPerSec, seconds: trainSeconds, time },
          `epoch ${epoch + 1}/${spec.train.epochs}: train loss ${train.loss.toFixed(4)} acc ${(100 * train.accuracy).toFixed(2)}%, val loss ${val.loss.toFixed(4)} acc ${(100 * val.accuracy).toFixed(2)}%, ${globalSamplesPerSec.toFixed(0)} samples/s`,
        );
        await client.report(joined.generation, step, step * spec.data.batchSize * world, [
          { epoch: epoch + 1, split: 'train', loss: train.loss, accuracy: train.accuracy, samplesPerSec: globalSamplesPerSec, samples: train.samples },
          { epoch: epoch + 1, split: 'val', loss: val.loss, accuracy: val.accuracy, samplesPerSec: 0, samples: ev.count },
        ]);
      }
      if (spec.train.maxSteps > 0 && step >= spec.train.maxSteps) break;
    }

    const weights = new Float32Array(layout.size);
    layout.readWeights(weights);
    if (rank === 0) {
      const modelDir = path.join(o.outDir, 'model');
      await saveModelToDir(model, modelDir);
      log.info({ event: 'model-saved', dir: modelDir }, `model saved to ${modelDir}`);
    }
    // Nobody reports done before every replica has finished its last collective.
    await comm.barrier();
    heartbeat.stop();
    await client.finish(true, '');
    log.info({ event: 'finished', step }, 'worker finished');
    optimizer.dispose();
    model.dispose();
    return { rank, worldSize: world, steps: step, final, weights };
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
