/**
 * A model from the user's own code: `model: { kind: module, module: ./my-model.js }`. The module
 * exports `buildModel(ctx)` (or a default export) returning a tf.LayersModel.
 *
 * The context hands over ringtrain's own `tfl` (tfjs-layers) and `tf` (tfjs-core): a model built
 * with another copy of the packages (the module's own node_modules) would live in another tfjs
 * engine whose variables the training step cannot see, so that case is detected and refused.
 * Modules are CommonJS (.js, .cjs) or TypeScript (.ts, loaded by config/user-module.ts).
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { RingtrainError } from '../core';
import { requireUserModule } from '../config';

export interface ModelModuleContext {
  /** Shape of one input sample as the dataset stores it (MNIST: [784]). */
  sampleShape: number[];
  /** Output units: classes, or regression targets per row. */
  classes: number;
  /** Seed for initializers, so every rank could build the same weights (rank 0's win anyway). */
  seed: number;
  tf: typeof tf;
  tfl: typeof tfl;
}

type Builder = (ctx: ModelModuleContext) => unknown;

/** Loads `file` (resolved against `baseDir`) and builds its model. */
export function buildFromModule(
  file: string,
  baseDir: string,
  sampleShape: readonly number[],
  classes: number,
  seed: number,
): tfl.LayersModel {
  const full = path.resolve(baseDir, file);
  const mod = requireUserModule(full, 'model module');
  const build = (typeof mod.buildModel === 'function' ? mod.buildModel : mod.default) as Builder | undefined;
  if (typeof build !== 'function') {
    throw new RingtrainError(
      'CONFIG_INVALID',
      `model module ${full} exports ${Object.keys(mod).join(', ') || 'nothing'}; it must export a function buildModel(ctx) returning a tf.LayersModel`,
    );
  }
  const model = build({ sampleShape: [...sampleShape], classes, seed, tf, tfl });
  if (!(model instanceof tfl.LayersModel)) {
    const what =
      typeof model === 'object' && model !== null && 'layers' in model
        ? 'a model from another copy of @tensorflow/tfjs-layers (build it with ctx.tfl, not your own import)'
        : String(model);
    throw new RingtrainError(
      'CONFIG_INVALID',
      `buildModel in ${full} returned ${what}; it must return a tf.LayersModel built with ctx.tfl`,
    );
  }
  const out = model.outputs[0]?.shape;
  if (out === undefined || out.length !== 2 || out[1] !== classes) {
    throw new RingtrainError(
      'CONFIG_INVALID',
      `buildModel in ${full} returned a model with output shape ${JSON.stringify(out)}; ringtrain needs [null, ${classes}] (one logit per class, or one value per regression target)`,
    );
  }
  return model;
}
