/**
 * What a worker does with each epoch's summary: every rank's time split all-gathered into the
 * run records, and on rank 0 the metrics line, the epoch log line and the best-effort report to
 * the coordinator (which may be restarting: training does not wait for it).
 */
import type { Communicator } from '../allreduce';
import type { JobSpec } from '../config';
import type { Logger } from '../observe';
import type { RunRecorder } from '../record';
import type { CoordinatorClient } from './coordinator-client';
import { splitRecord, withoutConfusion } from './evaluate-split';
import type { FullDiskGuard } from './full-disk';
import { appendMetrics } from './run-dir';
import type { EpochSummary } from './train-types';

export interface EpochReportContext {
  spec: JobSpec;
  outDir: string;
  comm: Communicator;
  recorder: RunRecorder;
  disk: FullDiskGuard;
  client: CoordinatorClient;
  log: Logger;
  rank: number;
  world: number;
  generation: number;
}

export async function reportEpoch(c: EpochReportContext, e: EpochSummary): Promise<void> {
  // Every rank's time split, all-gathered (every rank is here at the same point).
  const timing = c.recorder.packEpochTiming();
  await c.comm.allReduceSum(timing);
  c.disk.run('epoch records', () =>
    c.recorder.onEpoch({
      epoch: e.epoch,
      step: e.step,
      train: e.train,
      val: e.val,
      samplesPerSec: e.samplesPerSec,
      ranks: timing,
      gradNorm: { mean: e.gradNorm, max: e.maxGradNorm, first: e.firstGradNorm },
      skippedSteps: e.skippedSteps,
      stepsInEpoch: e.stepsInEpoch,
    }),
  );
  if (c.rank !== 0) return;
  const extra = {
    lr: e.lr,
    gradNorm: e.gradNorm,
    maxGradNorm: e.maxGradNorm,
    skippedSteps: e.skippedSteps,
    clippedSteps: e.clippedSteps,
    ...(e.sparsity === undefined ? {} : { sparsity: e.sparsity }),
  };
  c.disk.run(`epoch ${e.epoch}'s metrics line`, () =>
    appendMetrics(c.outDir, [
      {
        epoch: e.epoch,
        split: 'train',
        loss: e.train.loss,
        ...splitRecord(e.train),
        samplesPerSec: e.samplesPerSec,
        ...extra,
      },
      { epoch: e.epoch, split: 'val', loss: e.val.loss, ...splitRecord(e.val), samplesPerSec: e.evalSamplesPerSec },
    ]),
  );
  logEpoch(c, e);
  // In the background: the coordinator's reply would cost rank 0 a round trip its peers wait through.
  c.client.reportInBackground(
    c.generation,
    e.step,
    e.step * c.spec.data.batchSize * c.spec.train.accumulate * c.world,
    [
      {
        epoch: e.epoch,
        split: 'train',
        loss: e.train.loss,
        accuracy: e.train.accuracy,
        samplesPerSec: e.samplesPerSec,
        samples: e.train.samples,
      },
      {
        epoch: e.epoch,
        split: 'val',
        loss: e.val.loss,
        accuracy: e.val.accuracy,
        samplesPerSec: 0,
        samples: e.val.samples,
      },
    ],
    (err) => c.log.warn({ event: 'report-failed' }, `epoch report to the coordinator failed: ${err.message}`),
  );
}

function logEpoch(c: EpochReportContext, e: EpochSummary): void {
  c.log.info(
    {
      event: 'epoch',
      epoch: e.epoch,
      epochs: e.epochs,
      step: e.step,
      lr: e.lr,
      train: withoutConfusion(e.train),
      val: withoutConfusion(e.val),
      samplesPerSec: e.samplesPerSec,
      seconds: e.seconds,
      time: e.time,
      gradNorm: e.gradNorm,
      maxGradNorm: e.maxGradNorm,
      skippedSteps: e.skippedSteps,
      stopEarly: e.stopEarly,
      sparsity: e.sparsity,
    },
    `epoch ${e.epoch}/${e.epochs}: train loss ${e.train.loss.toFixed(4)} acc ${(100 * e.train.accuracy).toFixed(2)}%, val loss ${e.val.loss.toFixed(4)} acc ${(100 * e.val.accuracy).toFixed(2)}%, lr ${e.lr.toPrecision(3)}, ${e.samplesPerSec.toFixed(0)} samples/s${e.sparsity === undefined ? '' : `, sparsity ${(100 * e.sparsity).toFixed(1)}%`}`,
  );
  if (e.stopEarly)
    c.log.info(
      { event: 'early-stop', epoch: e.epoch },
      `early stopping after epoch ${e.epoch}: val ${c.spec.train.monitor} did not improve for ${c.spec.train.earlyStopping.patience} epochs`,
    );
}
