/**
 * Builds the model a job asks for. Models declare their own input shape; the training step and
 * evaluation read it back (`sampleShape`), so the data side only ever hands over flat rows.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import type { ModelSpec } from '../config';
import { buildCnn } from './model-cnn';
import { buildFromLayers } from './model-layers';
import { buildMlp } from './model-mlp';
import { buildFromModule } from './model-module';
import { buildResnet } from './model-resnet';

/**
 * @param sampleShape shape of one sample as the dataset stores it (MNIST: [784]); a model may
 *   reshape it (a CNN views 784 as 28x28x1).
 */
export function buildModel(spec: ModelSpec, sampleShape: number[], classes: number, seed: number): tfl.LayersModel {
  switch (spec.kind) {
    case 'mlp':
      return buildMlp(
        spec,
        sampleShape.reduce((a, b) => a * b, 1),
        classes,
        seed,
      );
    case 'cnn':
      return buildCnn(spec, sampleShape, classes, seed);
    case 'resnet':
      return buildResnet(spec, sampleShape, classes, seed);
    case 'layers':
      return buildFromLayers(spec.layers, sampleShape, classes, seed, spec.initializer);
    case 'module':
      return buildFromModule(spec.module, process.cwd(), sampleShape, classes, seed);
  }
}

/** Shape of one input sample, without the batch dimension. */
export function sampleShape(model: tfl.LayersModel): number[] {
  const input = model.inputs[0];
  if (input === undefined) throw new Error(`model ${model.name} has no input`);
  return input.shape.slice(1).map((d) => {
    if (d === null) throw new Error(`model ${model.name} has an input of unknown size: ${JSON.stringify(input.shape)}`);
    return d;
  });
}
