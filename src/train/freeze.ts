/**
 * Which layers a job freezes (model.freeze by name, or model.freezeAllButLast). A frozen layer's
 * weights leave the training layout altogether (flat-params.ts): no gradient is computed for
 * them, they are not all-reduced and the optimizer never sees them, so they stay bit for bit
 * what initialisation (or model.initFrom) gave them. Batch norm's moving statistics are buffers,
 * not weights: they keep moving in training, as with torch's requires_grad=False.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import type { ModelSpec } from '../config';
import { RingtrainError } from '../core';
import { checkLayerNames } from './model-init-from';

/** Layers with trainable weights, in model order (the ones freezing can apply to). */
export function layersWithWeights(model: tfl.LayersModel): string[] {
  return model.layers.filter((l) => l.trainableWeights.length > 0).map((l) => l.name);
}

/** The frozen layer names for `spec`; [] when nothing is frozen. Throws CONFIG_INVALID naming the fix. */
export function frozenLayers(model: tfl.LayersModel, spec: Pick<ModelSpec, 'freeze' | 'freezeAllButLast'>): string[] {
  const weighted = layersWithWeights(model);
  let frozen: string[];
  if (spec.freezeAllButLast > 0) {
    if (spec.freezeAllButLast >= weighted.length) {
      throw new RingtrainError(
        'CONFIG_INVALID',
        `model.freezeAllButLast is ${spec.freezeAllButLast}, but the model has ${weighted.length} layers with weights (${weighted.join(', ')}), so nothing would be frozen: give a number below ${weighted.length}, or 0 to freeze nothing`,
      );
    }
    frozen = weighted.slice(0, weighted.length - spec.freezeAllButLast);
  } else {
    checkLayerNames(model, spec.freeze, 'model.freeze');
    frozen = weighted.filter((n) => spec.freeze.includes(n));
  }
  if (frozen.length > 0 && frozen.length === weighted.length) {
    throw new RingtrainError(
      'CONFIG_INVALID',
      `model.freeze freezes every layer with weights (${weighted.join(', ')}), so nothing would train: leave at least one out`,
    );
  }
  return frozen;
}
