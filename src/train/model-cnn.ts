/**
 * The built-in CNN, the peer's MNIST net (shared/peers/torch_common.py): per entry of
 * `channels` a 3x3 'valid' convolution with ReLU and a 2x2 max pool (28 -> 26 -> 13 -> 11 -> 5
 * with the default [32, 64]), then the dense `hidden` layers (128) with optional dropout, then
 * the logits. ~225k parameters, 1600 features into the first dense layer, as in PyTorch.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import type { ModelSpec } from '../config';
import { RingtrainError } from '../core';
import { imageInput } from './model-image-input';
import { activationLayer, inlineActivation, kernelInitializer } from './model-parts';

/** The peer's convolution widths. */
export const CNN_CHANNELS: readonly number[] = [32, 64];

export function buildCnn(
  spec: ModelSpec,
  sampleShape: readonly number[],
  classes: number,
  seed: number,
): tfl.LayersModel {
  const channels = spec.channels.length > 0 ? spec.channels : CNN_CHANNELS;
  const { input, image, shape } = imageInput(sampleShape, 'cnn');
  checkStages(shape[0], shape[1], channels.length);
  let x = image;
  let s = seed;
  channels.forEach((filters, i) => {
    x = tfl.layers
      .conv2d({
        filters,
        kernelSize: 3,
        padding: 'valid',
        activation: 'relu',
        kernelInitializer: kernelInitializer(spec.initializer, 'xavier-uniform', s++),
        name: `conv_${i}`,
      })
      .apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.maxPooling2d({ poolSize: 2, strides: 2, name: `pool_${i}` }).apply(x) as tfl.SymbolicTensor;
  });
  x = tfl.layers.flatten({ name: 'flatten' }).apply(x) as tfl.SymbolicTensor;
  spec.hidden.forEach((units, i) => {
    x = tfl.layers
      .dense({
        units,
        activation: inlineActivation(spec.activation),
        kernelInitializer: kernelInitializer(spec.initializer, 'xavier-uniform', s++),
        name: `dense_${i}`,
      })
      .apply(x) as tfl.SymbolicTensor;
    const act = activationLayer(spec.activation, `dense_${i}`);
    if (act !== undefined) x = act.apply(x) as tfl.SymbolicTensor;
    // Unseeded on purpose: a seeded tfjs dropout draws the same mask at every step.
    if (spec.dropout > 0)
      x = tfl.layers.dropout({ rate: spec.dropout, name: `dropout_${i}` }).apply(x) as tfl.SymbolicTensor;
  });
  const logits = tfl.layers
    .dense({
      units: classes,
      kernelInitializer: kernelInitializer(spec.initializer, 'xavier-uniform', s),
      name: 'logits',
    })
    .apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: logits, name: 'cnn' });
}

/** Each stage takes 2 rows for the 3x3 conv, then halves: refuse more stages than the image allows. */
function checkStages(height: number, width: number, stages: number): void {
  let h = Math.min(height, width);
  for (let i = 0; i < stages; i++) {
    h = Math.floor((h - 2) / 2);
    if (h < 1) {
      throw new RingtrainError(
        'CONFIG_INVALID',
        `model.channels has ${stages} entries, but a ${height}x${width} image is used up after ${i}: ` +
          'each cnn stage is a 3x3 conv and a 2x2 pool; give fewer channels',
      );
    }
  }
}
