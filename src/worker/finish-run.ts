/**
 * The end of a worker's run: the test evaluation, rank 0's saved model and evaluation file, a
 * barrier so nobody reports done before every replica has finished its last collective, and the
 * goodbye to the coordinator (retried while it restarts).
 */
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import type { Communicator } from '../allreduce';
import { isRingtrainError } from '../core';
import type { JobSpec } from '../config';
import { savePreprocess, type loadDataset } from '../data';
import type { Logger } from '../observe';
import { writeHParams } from '../record';
import { saveModelToDir, type buildModel } from '../train';
import type { Clock } from './clock';
import type { CoordinatorClient } from './coordinator-client';
import { evaluateSplit, evaluationOf, withoutConfusion, type SplitMetrics } from './evaluate-split';
import { retryWhileFull } from './full-disk';
import type { HeartbeatLoop } from './heartbeat-loop';
import { writeEvaluation } from './run-dir';
import type { TrainLoop } from './train-loop';
import type { TrainResult } from './train-types';

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

export interface FinishContext {
  spec: JobSpec;
  outDir: string;
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
  clock: Clock;
}

/** checkpoint.atStart: the weights every rank starts from, in the format of the final model/. */
export async function saveInitialModel(
  model: ReturnType<typeof buildModel>,
  preprocess: ReturnType<typeof loadDataset>['preprocess'],
  outDir: string,
  log: Logger,
): Promise<void> {
  const dir = path.join(outDir, 'model-initial');
  await saveModelToDir(model, dir);
  savePreprocess(dir, preprocess);
  log.info({ event: 'model-initial', dir }, `starting weights saved to ${dir}`);
}

/** After the last epoch: test evaluation, the saved model, and a clean goodbye. */
export async function finishRun(f: FinishContext): Promise<WorkerSummary> {
  const { data, model, comm, loop, result, log, rank } = f;
  const last = result.last;
  const val = result.val ?? last?.val;
  const final: WorkerSummary['final'] = {
    trainLoss: last?.train.loss ?? NaN,
    trainAccuracy: last?.train.accuracy ?? NaN,
    valLoss: val?.loss ?? NaN,
    valAccuracy: val?.accuracy ?? NaN,
  };
  // The saved weights on the test set: what `ringtrain eval` of the saved model computes. When
  // validation ran on the test set, the last evaluation (or restoreBest's) already is that.
  const test = data.val === data.test && val !== undefined ? val : await evaluateSplit(model, data.test, comm);
  if (rank === 0) logPruning(result, val, log);
  const weights = new Float32Array(loop.layout.size);
  loop.layout.readWeights(weights);
  if (rank === 0) await saveResults(f, test);
  // Nobody reports done before every replica has finished its last collective.
  await comm.barrier();
  // Heartbeats go on until the coordinator has our goodbye: a coordinator hung right now is
  // noticed (onCoordinatorLost) and replaced like one hung mid-run.
  await finishWithRetry(f.client, f.spec.cluster.connectTimeoutSec * 1000, f.clock);
  f.heartbeat.stop();
  // The process's high-water mark of resident memory (maxRSS is in KiB): what a memory limit must allow.
  const peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
  // A digest of the replica: ranks on other hosts log theirs too, so runs can show they agree.
  const weightsSha256 = createHash('sha256')
    .update(new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength))
    .digest('hex');
  log.info(
    { event: 'finished', step: result.steps, peakRssMb, worldSize: f.world, weightsSha256 },
    `worker finished (peak resident memory ${peakRssMb} MB)`,
  );
  model.dispose();
  return {
    rank,
    worldSize: f.world,
    steps: result.steps,
    final,
    weights,
    stoppedEarly: result.stoppedEarly,
    restoredEpoch: result.restoredEpoch,
  };
}

function logPruning(result: TrainResult, val: SplitMetrics | undefined, log: Logger): void {
  const pr = result.pruning;
  if (pr === undefined) return;
  const before =
    pr.before === undefined
      ? 'pruning never began'
      : `val loss ${pr.before.loss.toFixed(4)} acc ${(100 * pr.before.accuracy).toFixed(2)}% before pruning (${pr.before.epoch === 0 ? 'at the start' : `after epoch ${pr.before.epoch}`})`;
  log.info(
    {
      event: 'pruning',
      sparsity: pr.sparsity,
      before: pr.before,
      after: val === undefined ? undefined : withoutConfusion(val),
    },
    `ringtrain: pruning: ${(100 * pr.sparsity).toFixed(1)}% of kernel weights are 0; ${before}, val loss ${(val?.loss ?? NaN).toFixed(4)} acc ${(100 * (val?.accuracy ?? NaN)).toFixed(2)}% after`,
  );
}

/** Rank 0: the test line, the saved model and the evaluation file. */
async function saveResults(f: FinishContext, test: SplitMetrics): Promise<void> {
  const { data, model, loop, result, log } = f;
  if (data.val !== data.test)
    log.info(
      { event: 'test', test: withoutConfusion(test) },
      `test loss ${test.loss.toFixed(4)}${Number.isNaN(test.accuracy) ? `, mse ${test.mse?.toFixed(4)}, mae ${test.mae?.toFixed(4)}` : ` acc ${(100 * test.accuracy).toFixed(2)}%`} on ${test.samples} test samples`,
    );
  const modelDir = path.join(f.outDir, 'model');
  // Half the collective timeout: the other ranks wait for us at the barrier.
  const budgetMs = (f.spec.cluster.collectiveTimeoutSec * 1000) / 2;
  await retryWhileFull(
    `saving the model to ${modelDir}`,
    async () => {
      await saveModelToDir(model, modelDir);
      savePreprocess(modelDir, data.preprocess);
    },
    budgetMs,
    log,
  );
  log.info({ event: 'model-saved', dir: modelDir }, `model saved to ${modelDir}`);
  const ending = {
    epochs: result.last?.epoch ?? loop.counters.epoch,
    stoppedEarly: result.stoppedEarly,
    restoredEpoch: result.restoredEpoch,
  };
  writeEvaluation(f.outDir, { split: 'test', ...ending, ...evaluationOf(test, data.preprocess.classNames) });
  // The settings and final figures for TensorBoard's HParams tab; a run still finishes without them.
  const val = result.val ?? result.last?.val;
  const hparams = {
    worldSize: f.world,
    startSecs: Date.now() / 1000 - process.uptime(),
    endSecs: Date.now() / 1000,
    status: 'success' as const,
    steps: result.steps,
    epochs: ending.epochs,
    test,
    val,
    train: result.last?.train,
  };
  try {
    writeHParams(f.outDir, f.spec, hparams);
  } catch (e) {
    log.warn({ event: 'hparams-failed' }, `the HParams summary was not written: ${(e as Error).message}`);
  }
  log.info(
    { event: 'final', test: withoutConfusion(test), ...ending },
    `the saved model on the test set: loss ${test.loss.toFixed(4)}${Number.isNaN(test.accuracy) ? `, mae ${test.mae?.toFixed(4)}` : `, accuracy ${(100 * test.accuracy).toFixed(2)}%`}${result.restoredEpoch > 0 ? ` (weights of epoch ${result.restoredEpoch})` : ''}`,
  );
}

/** The coordinator may be restarting at the very end: keep telling it we are done. */
async function finishWithRetry(client: CoordinatorClient, timeoutMs: number, clock: Clock): Promise<void> {
  const until = clock.ms() + timeoutMs;
  for (;;) {
    try {
      await client.finish(true, '');
      return;
    } catch (e) {
      if (!isRingtrainError(e) || (e.code !== 'UNAVAILABLE' && e.code !== 'TIMEOUT') || clock.ms() > until) throw e;
      await clock.sleep(500);
    }
  }
}
