/**
 * How a convolutional model sees a sample. Datasets hand over flat rows (MNIST: 784 floats), and
 * the training step builds its input as [batch, ...sampleShape(model)], so a convolutional model
 * declares the dataset's own sample shape as its input and reshapes it to an image as its first
 * layer. The saved model therefore takes the same rows the MLP takes.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { RingtrainError } from '../core';

export type ImageShape = [number, number, number];

/**
 * [height, width, channels] of a sample: a rank-3 shape as it is; a flat size that is a square
 * (784 -> 28x28x1) or three times a square (3072 -> 32x32x3), never both.
 */
export function imageShapeOf(sampleShape: readonly number[], model: string): ImageShape {
  if (sampleShape.length === 3) return [sampleShape[0]!, sampleShape[1]!, sampleShape[2]!];
  const size = sampleShape.reduce((a, b) => a * b, 1);
  for (const channels of [1, 3]) {
    const side = Math.round(Math.sqrt(size / channels));
    if (side * side * channels === size) return [side, side, channels];
  }
  throw new RingtrainError(
    'CONFIG_INVALID',
    `model.kind ${model} needs square images, but a sample is ${JSON.stringify(sampleShape)} (${size} values, ` +
      'neither a square nor 3 x a square): use model.kind mlp for this dataset',
  );
}

/** The model's input (the dataset's sample shape) and its view as an image. */
export function imageInput(
  sampleShape: readonly number[],
  model: string,
): { input: tfl.SymbolicTensor; image: tfl.SymbolicTensor; shape: ImageShape } {
  const shape = imageShapeOf(sampleShape, model);
  const input = tfl.input({ shape: [...sampleShape], name: 'input' });
  const image = tfl.layers.reshape({ targetShape: shape, name: 'image' }).apply(input) as tfl.SymbolicTensor;
  return { input, image, shape };
}
