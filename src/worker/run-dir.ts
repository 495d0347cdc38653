/**
 * What rank 0 leaves in the run directory: metrics.jsonl (one JSON object per epoch and split),
 * the resolved job spec, checkpoints/ and the final model under model/.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { appendFileNamed, DIRECTORY_USES, makeDirectory } from '../core';
import type { JobSpec } from '../config';
import { RUN_FILES } from '../record';

export interface EpochRecord {
  epoch: number;
  split: 'train' | 'val';
  loss: number;
  /** Classification only: regression records carry mse, mae and r2 instead. */
  accuracy?: number;
  samplesPerSec: number;
  /** Regression: mean squared and absolute error, R^2 (train records: mse only, from the loss). */
  mse?: number;
  mae?: number;
  r2?: number;
  /** Train records: lr of the epoch's last step, mean and largest global gradient norm, steps skipped/clipped. */
  lr?: number;
  gradNorm?: number;
  maxGradNorm?: number;
  skippedSteps?: number;
  clippedSteps?: number;
}

const METRICS_FILE = 'metrics.jsonl';

export function appendMetrics(outDir: string, records: EpochRecord[]): void {
  makeDirectory(outDir, DIRECTORY_USES.run);
  appendFileNamed(path.join(outDir, METRICS_FILE), records.map((r) => JSON.stringify(r)).join('\n') + '\n');
}

/** The saved model's test metrics, per-class report included (`ringtrain report` draws them). */
export function writeEvaluation(outDir: string, evaluation: object): void {
  fs.writeFileSync(
    path.join(outDir, RUN_FILES.evaluation),
    `${JSON.stringify(evaluation, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`,
  );
}

/**
 * After a resume, drops records of epochs past the checkpoint (a run killed after logging epoch
 * 3 but resumed from epoch 2's checkpoint repeats epoch 3), so the file has one line per epoch.
 */
export function trimMetrics(outDir: string, epochsDone: number): void {
  const file = path.join(outDir, METRICS_FILE);
  if (!fs.existsSync(file)) return;
  const kept = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .filter((l) => {
      try {
        return (JSON.parse(l) as { epoch?: number }).epoch! <= epochsDone;
      } catch {
        return false;
      }
    });
  fs.writeFileSync(file, kept.length > 0 ? kept.join('\n') + '\n' : '');
}

/** checkpoint.dir, or <run dir>/checkpoints. */
export function checkpointDirOf(spec: JobSpec, outDir: string): string {
  return spec.checkpoint.dir !== '' ? path.resolve(spec.checkpoint.dir) : path.join(outDir, 'checkpoints');
}

/** Whether rank 0 may write a checkpoint: at the start (atStart), on a step or epoch mark, or when early stopping ends the run. */
export function writesCheckpoints(spec: JobSpec): boolean {
  const { everySteps, everyEpochs, atStart } = spec.checkpoint;
  return everySteps > 0 || everyEpochs > 0 || atStart || spec.train.earlyStopping.patience > 0;
}
