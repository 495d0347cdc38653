/**
 * A model described as a list of layers in the job file, like an nn.Sequential:
 *
 *   model: { kind: layers, layers: [ {type: conv2d, filters: 32, kernelSize: 3, activation: relu},
 *                                    {type: maxPool2d, poolSize: 2}, {type: flatten},
 *                                    {type: dense, units: 128, activation: relu}, {type: dropout, rate: 0.2} ] }
 *
 * The list is the body: the input (the dataset's sample shape, reshaped to an image in front of
 * the first convolution when rows are flat) and the output layer (one linear unit per class or
 * regression target, named 'logits') are added here, so the same list fits any dataset.
 * Every problem in the list is reported at once, with its index, before anything is built.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { RingtrainError } from '../core';
import type { InitializerName } from '../config';
import { imageShapeOf } from './model-image-input';
import { activationLayer, inlineActivation, kernelInitializer } from './model-parts';

export type LayerActivation = 'relu' | 'tanh' | 'sigmoid' | 'elu' | 'selu' | 'leakyRelu' | 'linear';

export type LayerSpec =
  | { type: 'dense'; units: number; activation?: LayerActivation }
  | {
      type: 'conv2d';
      filters: number;
      kernelSize: number;
      strides?: number;
      padding?: 'same' | 'valid';
      activation?: LayerActivation;
    }
  | { type: 'maxPool2d' | 'avgPool2d'; poolSize: number; strides?: number }
  | { type: 'batchNorm' }
  | { type: 'dropout'; rate: number }
  | { type: 'flatten' };

const ACTIVATIONS: readonly LayerActivation[] = ['relu', 'tanh', 'sigmoid', 'elu', 'selu', 'leakyRelu', 'linear'];
/** Fields each type takes; the first ones listed are required. */
const FIELDS: Record<LayerSpec['type'], { required: string[]; optional: string[] }> = {
  dense: { required: ['units'], optional: ['activation'] },
  conv2d: { required: ['filters', 'kernelSize'], optional: ['strides', 'padding', 'activation'] },
  maxPool2d: { required: ['poolSize'], optional: ['strides'] },
  avgPool2d: { required: ['poolSize'], optional: ['strides'] },
  batchNorm: { required: [], optional: [] },
  dropout: { required: ['rate'], optional: [] },
  flatten: { required: [], optional: [] },
};

const positiveInt = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 1;

/** Checks a raw list (parsed YAML/JSON) and returns it typed; throws CONFIG_INVALID listing every problem. */
export function parseLayers(raw: unknown): LayerSpec[] {
  if (!Array.isArray(raw) || raw.length === 0) {
    throw new RingtrainError(
      'CONFIG_INVALID',
      'model.layers must be a non-empty list of layers, like [{type: dense, units: 128, activation: relu}]',
    );
  }
  const problems: string[] = [];
  raw.forEach((l: unknown, i) => {
    const at = `model.layers[${i}]`;
    if (typeof l !== 'object' || l === null || Array.isArray(l)) {
      problems.push(`${at} must be a mapping with a 'type', got ${JSON.stringify(l)}`);
      return;
    }
    const layer = l as Record<string, unknown>;
    const type = layer.type as LayerSpec['type'];
    const fields = FIELDS[type];
    if (typeof type !== 'string' || fields === undefined) {
      problems.push(`${at}.type must be one of ${Object.keys(FIELDS).join(', ')}, got ${JSON.stringify(layer.type)}`);
      return;
    }
    for (const f of fields.required) if (!(f in layer)) problems.push(`${at} (${type}) needs '${f}'`);
    for (const f of Object.keys(layer)) {
      if (f !== 'type' && !fields.required.includes(f) && !fields.optional.includes(f)) {
        problems.push(
          `${at} (${type}) has unknown field '${f}'; it takes ${[...fields.required, ...fields.optional].join(', ') || 'no fields'}`,
        );
      }
    }
    for (const f of ['units', 'filters', 'kernelSize', 'poolSize', 'strides']) {
      if (f in layer && !positiveInt(layer[f]))
        problems.push(`${at}.${f} must be an integer >= 1, got ${JSON.stringify(layer[f])}`);
    }
    if ('rate' in layer && !(typeof layer.rate === 'number' && layer.rate >= 0 && layer.rate < 1))
      problems.push(`${at}.rate must be a number >= 0 and < 1, got ${JSON.stringify(layer.rate)}`);
    if ('activation' in layer && !ACTIVATIONS.includes(layer.activation as LayerActivation))
      problems.push(
        `${at}.activation must be one of ${ACTIVATIONS.join(', ')}, got ${JSON.stringify(layer.activation)}`,
      );
    if ('padding' in layer && layer.padding !== 'same' && layer.padding !== 'valid')
      problems.push(`${at}.padding must be 'same' or 'valid', got ${JSON.stringify(layer.padding)}`);
  });
  if (problems.length > 0)
    throw new RingtrainError(
      'CONFIG_INVALID',
      `invalid model.layers (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n  ${problems.join('\n  ')}`,
    );
  return raw as LayerSpec[];
}

const isSpatial = (t: LayerSpec['type']): boolean => t === 'conv2d' || t === 'maxPool2d' || t === 'avgPool2d';

/** Builds the layer list on `sampleShape` with a `classes`-unit linear output; initializers seeded. */
export function buildFromLayers(
  raw: unknown,
  sampleShape: readonly number[],
  classes: number,
  seed: number,
  initializer: InitializerName = 'auto',
): tfl.LayersModel {
  const layers = parseLayers(raw);
  const model = tfl.sequential({ name: 'layers' });
  model.add(tfl.layers.inputLayer({ inputShape: [...sampleShape], name: 'input' }));
  let spatial = sampleShape.length === 3;
  if (!spatial && layers.some((l) => isSpatial(l.type))) {
    model.add(tfl.layers.reshape({ targetShape: imageShapeOf(sampleShape, 'layers'), name: 'image' }));
    spatial = true;
  }
  layers.forEach((l, i) => {
    const name = `${l.type}_${i}`;
    const init = kernelInitializer(initializer, 'xavier-uniform', seed + i);
    const activation = 'activation' in l ? (l.activation ?? 'linear') : 'linear';
    switch (l.type) {
      case 'dense':
        if (spatial) model.add(tfl.layers.flatten({ name: `flatten_before_${i}` }));
        spatial = false;
        model.add(
          tfl.layers.dense({ units: l.units, activation: inlineActivation(activation), kernelInitializer: init, name }),
        );
        break;
      case 'conv2d':
        model.add(
          tfl.layers.conv2d({
            filters: l.filters,
            kernelSize: l.kernelSize,
            strides: l.strides ?? 1,
            padding: l.padding ?? 'valid',
            activation: inlineActivation(activation),
            kernelInitializer: init,
            name,
          }),
        );
        break;
      case 'maxPool2d':
        model.add(tfl.layers.maxPooling2d({ poolSize: l.poolSize, strides: l.strides ?? l.poolSize, name }));
        break;
      case 'avgPool2d':
        model.add(tfl.layers.averagePooling2d({ poolSize: l.poolSize, strides: l.strides ?? l.poolSize, name }));
        break;
      case 'batchNorm':
        model.add(tfl.layers.batchNormalization({ name }));
        break;
      case 'dropout':
        model.add(tfl.layers.dropout({ rate: l.rate, name }));
        break;
      case 'flatten':
        model.add(tfl.layers.flatten({ name }));
        spatial = false;
        break;
    }
    const act = activationLayer(activation, name);
    if (act !== undefined) model.add(act);
  });
  if (spatial) model.add(tfl.layers.flatten({ name: 'flatten_out' }));
  model.add(
    tfl.layers.dense({
      units: classes,
      kernelInitializer: kernelInitializer(initializer, 'xavier-uniform', seed + layers.length),
      name: 'logits',
    }),
  );
  return model;
}
