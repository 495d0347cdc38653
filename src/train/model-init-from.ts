/**
 * Fine-tuning's start: copy weights into a freshly built model from another model's weights,
 * matched by name ('dense_0/kernel', as model.json and checkpoints name them), every shape
 * checked first. Everything that does not fit is listed in one error, with the fix, before a
 * single weight is written, so a failed start leaves the fresh model as it was.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { RingtrainError } from '../core';

/** Weights by name, with where they came from (for messages). */
export interface NamedWeights {
  source: string;
  weights: Map<string, { shape: number[]; values: Float32Array }>;
}

/** What initWeightsFrom did. */
export interface InitReport {
  /** Weights copied. */
  loaded: number;
  /** Weights of the source that the model has no place for (a replaced head, say). */
  unused: string[];
  /** Weights left as built, because their layer is in `skip`. */
  kept: string[];
}

/** The weights of a saved model directory (model.json + weights files), dequantized to float32. */
export function readSavedWeights(dir: string): NamedWeights {
  const file = path.join(dir, 'model.json');
  let json: { weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[] };
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8')) as typeof json;
  } catch (e) {
    throw new RingtrainError(
      'CONFIG_INVALID',
      `cannot read the weights' model.json at ${file} (${(e as Error).message}): give a run's model/ directory or a checkpoint directory`,
    );
  }
  const groups = json.weightsManifest ?? [];
  const all = Buffer.concat(groups.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(dir, p)))));
  const data = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  const tensors = tf.io.decodeWeights(
    data,
    groups.flatMap((g) => g.weights),
  );
  const weights = new Map<string, { shape: number[]; values: Float32Array }>();
  for (const [name, t] of Object.entries(tensors)) {
    weights.set(name, { shape: t.shape.slice(), values: Float32Array.from(t.dataSync() as ArrayLike<number>) });
    t.dispose();
  }
  return { source: dir, weights };
}

/** Throws CONFIG_INVALID when a name in `skip` is no layer of the model. */
export function checkLayerNames(model: tfl.LayersModel, names: readonly string[], field: string): void {
  const known = new Set(model.layers.map((l) => l.name));
  const bad = names.filter((n) => !known.has(n));
  if (bad.length > 0) {
    const withWeights = model.layers.filter((l) => l.weights.length > 0).map((l) => l.name);
    throw new RingtrainError(
      'CONFIG_INVALID',
      `${field} names ${bad.map((n) => `'${n}'`).join(', ')}, which the model does not have: its layers with weights are ${withWeights.join(', ')}`,
    );
  }
}

/**
 * Copies `from` into `model`: every weight of a layer not in `skip` must be in `from` with the
 * same shape, or nothing is copied and the error lists each weight that does not fit.
 */
export function initWeightsFrom(model: tfl.LayersModel, from: NamedWeights, skip: readonly string[] = []): InitReport {
  checkLayerNames(model, skip, 'model.initSkip');
  const skipped = new Set(skip);
  const problems: string[] = [];
  const plan: { v: tfl.LayerVariable; values: Float32Array }[] = [];
  const kept: string[] = [];
  for (const layer of model.layers) {
    for (const v of layer.weights) {
      const name = v.originalName;
      if (skipped.has(layer.name)) {
        kept.push(name);
        continue;
      }
      const src = from.weights.get(name);
      const shape = v.shape.map((d) => d ?? -1);
      if (src === undefined) problems.push(`${name} ${JSON.stringify(shape)} is not in ${from.source}`);
      else if (JSON.stringify(src.shape) !== JSON.stringify(shape))
        problems.push(`${name} is ${JSON.stringify(shape)} here but ${JSON.stringify(src.shape)} in ${from.source}`);
      else plan.push({ v, values: src.values });
    }
  }
  if (problems.length > 0) {
    const layers = [...new Set(problems.map((p) => p.split('/')[0] as string))];
    throw new RingtrainError(
      'CONFIG_INVALID',
      `model.initFrom ${from.source} does not fit this model (${problems.length} weight${problems.length === 1 ? '' : 's'}):\n  ${problems.join('\n  ')}\n` +
        `Build the model the weights came from, or list the layers to leave freshly initialised in model.initSkip (e.g. [${layers.join(', ')}]).`,
    );
  }
  tf.tidy(() => {
    for (const { v, values } of plan) v.write(tf.tensor(values, v.shape as number[], 'float32'));
  });
  const used = new Set(plan.map((p) => p.v.originalName));
  return { loaded: plan.length, unused: [...from.weights.keys()].filter((n) => !used.has(n)), kept };
}
