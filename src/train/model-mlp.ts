/**
 * The built-in MLP: 784 -> hidden... -> 10 logits, with optional dropout after each hidden layer
 * (active only when the model is applied with `training: true`). Initialisers are seeded so that
 * every rank could build identical weights on its own; ringtrain still broadcasts rank 0's
 * weights, because a user model need not be seeded.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import type { ModelSpec } from '../config';
import { activationLayer, inlineActivation, kernelInitializer } from './model-parts';

/** What the MLP reads from a ModelSpec; `dropout` defaults to 0. */
export type MlpOptions = Pick<ModelSpec, 'hidden' | 'activation'> & Partial<ModelSpec>;

export function buildMlp(spec: MlpOptions, inputSize: number, classes: number, seed: number): tfl.LayersModel {
  const model = tfl.sequential({ name: 'mlp' });
  const dropout = spec.dropout ?? 0;
  const init = spec.initializer ?? 'auto';
  spec.hidden.forEach((units, i) => {
    model.add(
      tfl.layers.dense({
        units,
        activation: inlineActivation(spec.activation),
        inputShape: i === 0 ? [inputSize] : undefined,
        kernelInitializer: kernelInitializer(init, 'xavier-uniform', seed + i),
        biasInitializer: 'zeros',
        name: `dense_${i}`,
      }),
    );
    const act = activationLayer(spec.activation, `dense_${i}`);
    if (act !== undefined) model.add(act);
    // No seed: tfjs reseeds its generator on every call, so a seeded dropout would drop the
    // same units at every step.
    if (dropout > 0) model.add(tfl.layers.dropout({ rate: dropout, name: `dropout_${i}` }));
  });
  model.add(
    tfl.layers.dense({
      units: classes,
      inputShape: spec.hidden.length === 0 ? [inputSize] : undefined,
      kernelInitializer: kernelInitializer(init, 'xavier-uniform', seed + spec.hidden.length),
      name: 'logits',
    }),
  );
  return model;
}

/** Number of trainable scalars, as torchsummary reports it. */
export function parameterCount(model: tfl.LayersModel): number {
  return model.trainableWeights.reduce((n, w) => n + w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
}
