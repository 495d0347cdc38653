/**
 * What a job starts from besides its fresh model: model.initFrom's weights (a saved model or a
 * checkpoint), the frozen layers (checked here, before the worker joins, so a wrong name fails
 * the job at once), and train.distill's teacher. Every worker reads these files, as it reads
 * the dataset; the start broadcast still makes rank 0's weights everyone's.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import { RingtrainError } from '../core';
import type { JobSpec } from '../config';
import {
  frozenLayers,
  initWeightsFrom,
  loadModelFromDir,
  readSavedWeights,
  sampleShape,
  type NamedWeights,
} from '../train';
import { findLatestCheckpoint } from './checkpoint-store';
import { ARRAY_BUFFERS, ARRAY_FROZEN, ARRAY_PARAMS, type TrainCounters, type WeightEntry } from './train-state';

/** The saved model directory `dir` names (itself, or a run directory's model/), else undefined. */
function savedModelDir(dir: string): string | undefined {
  if (fs.existsSync(path.join(dir, 'model.json'))) return dir;
  if (fs.existsSync(path.join(dir, 'model', 'model.json'))) return path.join(dir, 'model');
  return undefined;
}

/**
 * Named weights from a checkpoint. Checkpoints name their arrays' weights (weightNames); older
 * ones do not, and are read in this model's order (params = its trainable weights, buffers =
 * the rest), which fits only the same model, as the shape check then confirms.
 */
function checkpointWeights(dir: string, model: tfl.LayersModel): NamedWeights {
  const found = findLatestCheckpoint(dir, () => undefined);
  if (found === undefined) {
    throw new RingtrainError(
      'CONFIG_INVALID',
      `model.initFrom ${dir}: neither a saved model (model.json) nor a checkpoint (ckpt-* with manifest.json) is there: give a run's model/ directory, a checkpoint directory or a run directory`,
    );
  }
  const meta = found.ckpt.meta as Partial<TrainCounters>;
  const entries = (ws: tfl.LayerVariable[]): WeightEntry[] =>
    ws.map((w) => ({ name: w.originalName, shape: w.shape.map((d) => d ?? -1) }));
  const names = meta.weightNames ?? {
    params: entries(model.trainableWeights),
    buffers: entries(model.nonTrainableWeights),
    frozen: [],
  };
  const weights: NamedWeights['weights'] = new Map();
  const take = (array: string, list: WeightEntry[]): void => {
    const a = found.ckpt.arrays.get(array);
    let at = 0;
    for (const { name, shape } of list) {
      const size = shape.reduce((x, y) => x * y, 1);
      if (a !== undefined && at + size <= a.length) weights.set(name, { shape, values: a.slice(at, at + size) });
      at += size;
    }
  };
  take(ARRAY_PARAMS, names.params);
  take(ARRAY_BUFFERS, names.buffers);
  take(ARRAY_FROZEN, names.frozen);
  return { source: found.dir, weights };
}

/** A line for the terminal (rank 0 logs it once it knows it is rank 0, with the model summary). */
export interface StartNote {
  event: string;
  fields: Record<string, unknown>;
  msg: string;
}

/**
 * Applies model.initFrom to the freshly built `model` and checks model.freeze against it; both
 * throw CONFIG_INVALID naming what does not fit and the fix. Returns what to tell the user.
 */
export function prepareModel(spec: JobSpec, model: tfl.LayersModel): StartNote[] {
  const notes: StartNote[] = [];
  const m = spec.model;
  if (m.initFrom !== '') {
    const dir = path.resolve(m.initFrom);
    const saved = savedModelDir(dir);
    const from = saved !== undefined ? readSavedWeights(saved) : checkpointWeights(dir, model);
    const r = initWeightsFrom(model, from, m.initSkip);
    const extra = [
      r.kept.length > 0 ? `kept fresh: ${r.kept.join(', ')}` : '',
      r.unused.length > 0 ? `not used: ${r.unused.join(', ')}` : '',
    ].filter((x) => x !== '');
    notes.push({
      event: 'init-from',
      fields: { source: from.source, loaded: r.loaded, kept: r.kept, unused: r.unused },
      msg: `ringtrain: weights from ${from.source}: ${r.loaded} loaded${extra.length > 0 ? ` (${extra.join('; ')})` : ''}`,
    });
  }
  const frozen = frozenLayers(model, m);
  if (frozen.length > 0) {
    const params = frozen.reduce((n, name) => n + model.getLayer(name).countParams(), 0);
    notes.push({
      event: 'frozen',
      fields: { layers: frozen, params },
      msg: `ringtrain: frozen (not trained, not all-reduced): ${frozen.join(', ')} (${params.toLocaleString('en-US')} parameters)`,
    });
  }
  const d = spec.train.distill;
  if (d.teacher !== '')
    notes.push({
      event: 'distill',
      fields: { ...d },
      msg: `ringtrain: distilling from ${path.resolve(d.teacher)} (temperature ${d.temperature}, alpha ${d.alpha})`,
    });
  return notes;
}

/** train.distill's teacher, loaded and checked against the student; undefined without distillation. */
export async function loadTeacher(spec: JobSpec, student: tfl.LayersModel): Promise<tfl.LayersModel | undefined> {
  const d = spec.train.distill;
  if (d.teacher === '') return undefined;
  const dir = savedModelDir(path.resolve(d.teacher));
  if (dir === undefined)
    throw new RingtrainError(
      'CONFIG_INVALID',
      `train.distill.teacher ${d.teacher}: no model.json there: give the teacher run's model/ directory (or the run directory)`,
    );
  const teacher = await loadModelFromDir(dir);
  const want = JSON.stringify(sampleShape(student));
  const got = JSON.stringify(sampleShape(teacher));
  const classes = student.outputs[0]?.shape[1];
  const teacherClasses = teacher.outputs[0]?.shape[1];
  if (want !== got || classes !== teacherClasses) {
    teacher.dispose();
    throw new RingtrainError(
      'CONFIG_INVALID',
      `train.distill.teacher ${dir} takes ${got} and gives ${teacherClasses} outputs, but this model takes ${want} and gives ${classes}: the teacher must be trained on the same data (same sample shape and classes)`,
    );
  }
  return teacher;
}
