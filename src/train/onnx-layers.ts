/**
 * One ONNX translation per tfjs layer class the built-in models and layer lists use. Each takes
 * the layer's input values and returns its output value; weights become initializers, converted
 * to ONNX's layouts (conv kernels HWIO -> OIHW).
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { RingtrainError } from '../core';
import { applyActivation, unsupported, type OnnxGraphBuilder, type OnnxValue } from './onnx-graph';

/** The config fields the translations read (tfjs's getConfig, camelCase). */
interface LayerConfig {
  units?: number;
  activation?: string;
  useBias?: boolean;
  kernelSize?: number[];
  strides?: number[];
  poolSize?: number[];
  padding?: string;
  dilationRate?: number | number[];
  dataFormat?: string;
  targetShape?: number[];
  epsilon?: number;
  axis?: number | number[];
  alpha?: number;
  maxValue?: number | null;
  center?: boolean;
  scale?: boolean;
}

type Convert = (g: OnnxGraphBuilder, layer: tfl.layers.Layer, inputs: OnnxValue[], base: string) => OnnxValue;

const configOf = (layer: tfl.layers.Layer): LayerConfig => layer.getConfig() as unknown as LayerConfig;

/** The layer's weight whose name ends in `/suffix` (tfjs may append _N to keep names unique). */
function weight(layer: tfl.layers.Layer, suffix: string): { values: Float32Array; shape: number[] } | undefined {
  const re = new RegExp(`(^|/)${suffix}(_\\d+)?$`);
  const w = layer.weights.find((v) => re.test(v.originalName) || re.test(v.name));
  if (w === undefined) return undefined;
  return { values: w.read().dataSync() as Float32Array, shape: w.shape.map((d) => d ?? 0) };
}

function requireWeight(layer: tfl.layers.Layer, suffix: string): { values: Float32Array; shape: number[] } {
  const w = weight(layer, suffix);
  if (w === undefined)
    throw new RingtrainError(
      'DATA_INVALID',
      `layer '${layer.name}' (${layer.getClassName()}) has no '${suffix}' weight to export`,
    );
  return w;
}

const one = (inputs: OnnxValue[], layer: tfl.layers.Layer): OnnxValue => {
  const v = inputs[0];
  if (v === undefined || inputs.length !== 1) throw unsupported(layer.name, `${inputs.length} inputs`);
  return v;
};

const pair = (v: number | number[] | undefined, fallback: number): number[] =>
  v === undefined ? [fallback, fallback] : typeof v === 'number' ? [v, v] : v;

function checkChannelsLast(layer: tfl.layers.Layer, c: LayerConfig): void {
  if (c.dataFormat !== undefined && c.dataFormat !== 'channelsLast')
    throw unsupported(layer.name, `dataFormat '${c.dataFormat}'`);
}

/** ONNX auto_pad for tfjs's padding: TensorFlow's 'same' puts the odd extra pixel at the end (SAME_UPPER). */
function autoPad(layer: tfl.layers.Layer, padding: string | undefined): string {
  if (padding === 'same') return 'SAME_UPPER';
  if (padding === 'valid' || padding === undefined) return 'VALID';
  throw unsupported(layer.name, `padding '${padding}'`);
}

const dense: Convert = (g, layer, inputs, base) => {
  const c = configOf(layer);
  const kernel = requireWeight(layer, 'kernel');
  const bias = c.useBias === false ? undefined : requireWeight(layer, 'bias');
  // Dense acts on the last axis in TensorFlow's order, so an image goes back to NHWC first.
  const x = g.toTf(one(inputs, layer), base);
  const w = g.constant(`${base}/kernel`, kernel.shape, kernel.values);
  let y: string;
  if (x.rank === 2 && bias !== undefined)
    y = g.node('Gemm', [x.name, w, g.constant(`${base}/bias`, bias.shape, bias.values)], `${base}/gemm`);
  else {
    y = g.node('MatMul', [x.name, w], `${base}/matmul`);
    if (bias !== undefined)
      y = g.node('Add', [y, g.constant(`${base}/bias`, bias.shape, bias.values)], `${base}/bias_add`);
  }
  return applyActivation(
    g,
    { name: y, rank: x.rank, nchw: false },
    c.activation ?? 'linear',
    `${base}/${c.activation ?? 'linear'}`,
    layer.name,
  );
};

/** HWIO (tfjs) -> OIHW (ONNX). */
function toOihw(k: { values: Float32Array; shape: number[] }): { values: Float32Array; shape: number[] } {
  const [h, w, i, o] = k.shape as [number, number, number, number];
  const out = new Float32Array(k.values.length);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let ci = 0; ci < i; ci++)
        for (let co = 0; co < o; co++)
          out[((co * i + ci) * h + y) * w + x] = k.values[((y * w + x) * i + ci) * o + co] as number;
  return { values: out, shape: [o, i, h, w] };
}

const conv2d: Convert = (g, layer, inputs, base) => {
  const c = configOf(layer);
  checkChannelsLast(layer, c);
  const kernel = toOihw(requireWeight(layer, 'kernel'));
  const x = g.toNchw(one(inputs, layer), base);
  const args = [x.name, g.constant(`${base}/kernel`, kernel.shape, kernel.values)];
  if (c.useBias !== false) {
    const bias = requireWeight(layer, 'bias');
    args.push(g.constant(`${base}/bias`, bias.shape, bias.values));
  }
  const y = g.node('Conv', args, `${base}/conv`, [
    { name: 'kernel_shape', ints: kernel.shape.slice(2) },
    { name: 'strides', ints: pair(c.strides, 1) },
    { name: 'dilations', ints: pair(c.dilationRate, 1) },
    { name: 'auto_pad', s: autoPad(layer, c.padding) },
  ]);
  return applyActivation(
    g,
    { name: y, rank: 4, nchw: true },
    c.activation ?? 'linear',
    `${base}/${c.activation ?? 'linear'}`,
    layer.name,
  );
};

const pool =
  (op: 'MaxPool' | 'AveragePool'): Convert =>
  (g, layer, inputs, base) => {
    const c = configOf(layer);
    checkChannelsLast(layer, c);
    const size = pair(c.poolSize, 2);
    const x = g.toNchw(one(inputs, layer), base);
    // tfjs averages over the pixels inside the image only: ONNX's count_include_pad 0 (its default).
    const y = g.node(op, [x.name], base, [
      { name: 'kernel_shape', ints: size },
      { name: 'strides', ints: pair(c.strides ?? undefined, size[0] as number) },
      { name: 'auto_pad', s: autoPad(layer, c.padding) },
    ]);
    return { name: y, rank: 4, nchw: true };
  };

const globalPool =
  (op: 'GlobalAveragePool' | 'GlobalMaxPool'): Convert =>
  (g, layer, inputs, base) => {
    const c = configOf(layer);
    checkChannelsLast(layer, c);
    const x = g.toNchw(one(inputs, layer), base);
    const pooled = g.node(op, [x.name], `${base}/pool`);
    return { name: g.node('Flatten', [pooled], base, [{ name: 'axis', i: 1 }]), rank: 2, nchw: false };
  };

const batchNorm: Convert = (g, layer, inputs, base) => {
  const c = configOf(layer);
  const axis = Array.isArray(c.axis) ? c.axis : [c.axis ?? -1];
  const x = one(inputs, layer);
  if (axis.length !== 1 || (axis[0] !== -1 && axis[0] !== x.rank - 1))
    throw unsupported(layer.name, `batch normalization over axis ${JSON.stringify(c.axis)}`);
  // ONNX normalises over dimension 1: the channels of an NCHW image, the features of a row.
  const v = x.rank === 4 ? g.toNchw(x, base) : x;
  if (v.rank !== 2 && v.rank !== 4) throw unsupported(layer.name, `batch normalization of a rank-${v.rank} value`);
  const mean = requireWeight(layer, 'moving_mean');
  const variance = requireWeight(layer, 'moving_variance');
  const n = mean.values.length;
  const gamma = c.scale === false ? new Float32Array(n).fill(1) : requireWeight(layer, 'gamma').values;
  const beta = c.center === false ? new Float32Array(n) : requireWeight(layer, 'beta').values;
  const y = g.node(
    'BatchNormalization',
    [
      v.name,
      g.constant(`${base}/gamma`, [n], gamma),
      g.constant(`${base}/beta`, [n], beta),
      g.constant(`${base}/mean`, [n], mean.values),
      g.constant(`${base}/variance`, [n], variance.values),
    ],
    base,
    [{ name: 'epsilon', f: c.epsilon ?? 1e-3 }],
  );
  return { ...v, name: y };
};

const flatten: Convert = (g, layer, inputs, base) => {
  const x = g.toTf(one(inputs, layer), base);
  return { name: g.node('Flatten', [x.name], base, [{ name: 'axis', i: 1 }]), rank: 2, nchw: false };
};

const reshape: Convert = (g, layer, inputs, base) => {
  const target = configOf(layer).targetShape ?? [];
  const x = g.toTf(one(inputs, layer), base);
  // 0 copies the batch dimension (allowzero is 0 in opset 13).
  const y: OnnxValue = {
    name: g.node('Reshape', [x.name, g.ints(`${base}/shape`, [0, ...target])], base),
    rank: target.length + 1,
    nchw: false,
  };
  return y.rank === 4 ? g.toNchw(y, base) : y;
};

const add: Convert = (g, layer, inputs, base) => {
  if (inputs.length < 2) throw unsupported(layer.name, `${inputs.length} input(s) to Add`);
  // Every input in one layout: NCHW when any is an image stored so.
  const nchw = inputs.some((v) => v.nchw);
  const xs = inputs.map((v) => (nchw ? g.toNchw(v, base) : g.toTf(v, base)));
  let y = (xs[0] as OnnxValue).name;
  for (let i = 1; i < xs.length; i++)
    y = g.node('Add', [y, (xs[i] as OnnxValue).name], i === xs.length - 1 ? base : `${base}/${i}`);
  return { name: y, rank: (xs[0] as OnnxValue).rank, nchw };
};

const identity: Convert = (g, layer, inputs, base) => {
  const x = one(inputs, layer);
  return { ...x, name: g.node('Identity', [x.name], base) };
};

const activation: Convert = (g, layer, inputs, base) =>
  applyActivation(g, one(inputs, layer), configOf(layer).activation ?? 'linear', base, layer.name);

const leakyRelu: Convert = (g, layer, inputs, base) => {
  const x = one(inputs, layer);
  return { ...x, name: g.node('LeakyRelu', [x.name], base, [{ name: 'alpha', f: configOf(layer).alpha ?? 0.3 }]) };
};

const reluLayer: Convert = (g, layer, inputs, base) => {
  const x = one(inputs, layer);
  const max = configOf(layer).maxValue;
  if (max === undefined || max === null) return { ...x, name: g.node('Relu', [x.name], base) };
  return { ...x, name: g.node('Clip', [x.name, g.scalar(`${base}/min`, 0), g.scalar(`${base}/max`, max)], base) };
};

const eluLayer: Convert = (g, layer, inputs, base) => {
  const x = one(inputs, layer);
  return { ...x, name: g.node('Elu', [x.name], base, [{ name: 'alpha', f: configOf(layer).alpha ?? 1 }]) };
};

const softmaxLayer: Convert = (g, layer, inputs, base) => {
  const axis = configOf(layer).axis;
  const x = one(inputs, layer);
  if (axis !== undefined && axis !== -1 && axis !== x.rank - 1)
    throw unsupported(layer.name, `softmax over axis ${JSON.stringify(axis)}`);
  return applyActivation(g, x, 'softmax', base, layer.name);
};

/** tfjs class name -> translation. Dropout and its kind are the identity at inference. */
export const LAYER_CONVERTERS: Readonly<Record<string, Convert>> = {
  Dense: dense,
  Conv2D: conv2d,
  MaxPooling2D: pool('MaxPool'),
  AveragePooling2D: pool('AveragePool'),
  GlobalAveragePooling2D: globalPool('GlobalAveragePool'),
  GlobalMaxPooling2D: globalPool('GlobalMaxPool'),
  BatchNormalization: batchNorm,
  Dropout: identity,
  SpatialDropout1D: identity,
  GaussianNoise: identity,
  GaussianDropout: identity,
  AlphaDropout: identity,
  Flatten: flatten,
  Reshape: reshape,
  Add: add,
  Activation: activation,
  ReLU: reluLayer,
  LeakyReLU: leakyRelu,
  ELU: eluLayer,
  Softmax: softmaxLayer,
};
