/**
 * The run's HParams summary for TensorBoard: the job's settings (model, data, train, seed, the
 * ring's size) and its final metrics, in RUN/tensorboard beside the train and validation curves.
 * `tensorboard --logdir runs` then shows every run in the HParams tab with its settings and
 * results side by side; the epoch curves count as metrics too, by their last value.
 */
import * as path from 'node:path';
import {
  EXPERIMENT_TAG,
  EventFileWriter,
  SESSION_END_TAG,
  SESSION_START_TAG,
  encodeHParamsEvent,
  experimentContent,
  sessionEndContent,
  sessionStartContent,
  type HParamValue,
  type HParamsMetric,
  type SessionStatus,
} from '../observe';
import { RUN_FILES } from './run-files';

/** One split's final figures as the worker has them (classification or regression). */
export interface FinalSplit {
  loss: number;
  accuracy: number;
  mse?: number;
  mae?: number;
  r2?: number;
}

export interface HParamsRun {
  worldSize: number;
  startSecs: number;
  endSecs: number;
  status: SessionStatus;
  steps: number;
  epochs: number;
  /** The saved model on the test set, the last (or restored) validation, the last epoch's training. */
  test: FinalSplit;
  val?: FinalSplit;
  train?: FinalSplit;
}

/** The parts of a job spec the HParams record (the worker passes its JobSpec). */
export interface JobSettings {
  name: string;
  seed: number;
  model: object;
  data: object;
  train: object;
}

/** The settings as scalars: model.*, data.*, train.* and seed by their dotted paths; lists as text. */
export function hparamsOf(spec: JobSettings, worldSize: number): Record<string, HParamValue> {
  const out: Record<string, HParamValue> = { seed: spec.seed, 'cluster.worldSize': worldSize };
  const walk = (prefix: string, v: unknown): void => {
    if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') out[prefix] = v;
    else if (Array.isArray(v)) out[prefix] = JSON.stringify(v);
    else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) walk(`${prefix}.${k}`, x);
  };
  walk('model', spec.model);
  walk('data', spec.data);
  walk('train', spec.train);
  return out;
}

/** The final metrics as scalar tags of the session's own run ('final/test_accuracy', ...). */
export function finalMetrics(r: HParamsRun): Record<string, number> {
  const out: Record<string, number> = { 'final/epochs': r.epochs, 'final/steps': r.steps };
  const put = (split: string, m: FinalSplit | undefined): void => {
    if (m === undefined) return;
    out[`final/${split}_loss`] = m.loss;
    if (Number.isFinite(m.accuracy)) out[`final/${split}_accuracy`] = m.accuracy;
    for (const k of ['mse', 'mae', 'r2'] as const) if (m[k] !== undefined) out[`final/${split}_${k}`] = m[k] as number;
  };
  put('test', r.test);
  put('val', r.val);
  put('train', r.train);
  return out;
}

function metricInfos(final: Record<string, number>, regression: boolean): HParamsMetric[] {
  const epochTags = regression ? ['epoch/loss', 'epoch/mse', 'epoch/mae'] : ['epoch/loss', 'epoch/accuracy'];
  return [
    ...Object.keys(final).map((tag): HParamsMetric => ({
      group: '',
      tag,
      dataset: tag.startsWith('final/train') ? 'training' : tag.startsWith('final/val') ? 'validation' : 'unknown',
    })),
    ...epochTags.map((tag): HParamsMetric => ({ group: 'train', tag, dataset: 'training' })),
    ...epochTags.map((tag): HParamsMetric => ({ group: 'validation', tag, dataset: 'validation' })),
  ];
}

/** Writes the experiment, the session's start and end and the final metrics; returns the event file. */
export function writeHParams(runDir: string, spec: JobSettings, r: HParamsRun): string {
  const dir = path.join(runDir, RUN_FILES.tensorboard);
  let now = r.startSecs;
  const writer = new EventFileWriter(dir, { clock: () => now, suffix: 'hparams' });
  const hparams = hparamsOf(spec, r.worldSize);
  const final = finalMetrics(r);
  writer.event(
    encodeHParamsEvent(
      now,
      EXPERIMENT_TAG,
      experimentContent(spec.name, r.startSecs, hparams, metricInfos(final, r.test.mse !== undefined)),
    ),
  );
  writer.event(
    encodeHParamsEvent(
      now,
      SESSION_START_TAG,
      sessionStartContent(hparams, r.startSecs, path.join(runDir, RUN_FILES.model)),
    ),
  );
  now = r.endSecs;
  writer.scalars(r.steps, final);
  writer.event(encodeHParamsEvent(now, SESSION_END_TAG, sessionEndContent(r.status, r.endSecs)));
  writer.close();
  return writer.file;
}
