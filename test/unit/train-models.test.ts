/**
 * The built-in models: their shapes against the PyTorch peer's, their behaviour in training and
 * evaluation (dropout, batch norm), and that they train, on the wasm backend with the project's
 * kernels, as the workers run them.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { selectBackend } from '../../src/compute';
import { isRingtrainError } from '../../src/core/errors';
import { DEFAULT_JOB, type ModelSpec } from '../../src/config';
import {
  ParamLayout,
  buildModel,
  computeGradients,
  createOptimizer,
  sampleShape,
  summarizeModel,
} from '../../src/train';

const spec = (over: Partial<ModelSpec>): ModelSpec => ({ ...DEFAULT_JOB.model, ...over });

/** Deterministic pseudo-random floats in [-1, 1) and labels in [0, 10). */
function randomBatch(n: number, features: number, seed: number): { x: Float32Array; y: Int32Array } {
  let s = seed >>> 0;
  const next = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  return {
    x: Float32Array.from({ length: n * features }, () => 2 * next() - 1),
    y: Int32Array.from({ length: n }, () => Math.floor(10 * next())),
  };
}

/** Trains `steps` SGD steps on one fixed batch, the way the worker does; returns each step's loss. */
function trainOnBatch(model: tfl.LayersModel, x: Float32Array, y: Int32Array, steps: number, lr: number): number[] {
  const layout = ParamLayout.ofModel(model);
  const params = new Float32Array(layout.size);
  layout.readWeights(params);
  const grads = new Float32Array(layout.size);
  const opt = createOptimizer('sgd', layout.size, { ...DEFAULT_JOB.train, momentum: 0.9 });
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) {
    losses.push(computeGradients(model, layout, x, y, y.length, grads).loss);
    opt.step(params, grads, lr);
    layout.writeWeights(params);
  }
  return losses;
}

test('the cnn is the peer net: 28x28x1 -> 26 -> 13 -> 11 -> 5 -> 1600 -> 128 -> 10, 225,034 parameters', async () => {
  await selectBackend('wasm');
  const model = buildModel(spec({ kind: 'cnn' }), [784], 10, 1);
  const shapes = Object.fromEntries(model.layers.map((l) => [l.name, (l.outputShape as (number | null)[]).slice(1)]));
  assert.deepEqual(shapes, {
    input: [784],
    image: [28, 28, 1],
    conv_0: [26, 26, 32],
    pool_0: [13, 13, 32],
    conv_1: [11, 11, 64],
    pool_1: [5, 5, 64],
    flatten: [1600],
    dense_0: [128],
    logits: [10],
  });
  // torch: Conv2d(1,32,3) 320 + Conv2d(32,64,3) 18,496 + Linear(1600,128) 204,928 + Linear(128,10) 1,290.
  assert.equal(ParamLayout.ofModel(model).size, 320 + 18_496 + 204_928 + 1_290);
  assert.deepEqual(sampleShape(model), [784]);
  model.dispose();
});

test('cnn channels and hidden widths follow the spec, and too many stages for the image are refused', async () => {
  await selectBackend('wasm');
  const model = buildModel(spec({ kind: 'cnn', channels: [8], hidden: [16, 12] }), [784], 10, 1);
  assert.deepEqual(
    model.layers.map((l) => l.name),
    ['input', 'image', 'conv_0', 'pool_0', 'flatten', 'dense_0', 'dense_1', 'logits'],
  );
  assert.deepEqual((model.getLayer('flatten').outputShape as number[]).slice(1), [13 * 13 * 8]);
  model.dispose();
  assert.throws(
    () => buildModel(spec({ kind: 'cnn', channels: [8, 8, 8, 8] }), [784], 10, 1),
    (e: unknown) =>
      isRingtrainError(e) &&
      e.code === 'CONFIG_INVALID' &&
      /model.channels has 4 entries, but a 28x28 image is used up after 3/.test(e.message),
  );
});

test('convolutional models refuse samples that are not square images, naming the shape', async () => {
  await selectBackend('wasm');
  for (const kind of ['cnn', 'resnet'] as const) {
    assert.throws(
      () => buildModel(spec({ kind }), [10], 10, 1),
      (e: unknown) =>
        isRingtrainError(e) &&
        e.code === 'CONFIG_INVALID' &&
        e.message.includes(`model.kind ${kind} needs square images, but a sample is [10]`),
    );
  }
});

test('the resnet reads flat 32x32x3 rows or 28x28x1 MNIST rows and ends in global pooling', async () => {
  await selectBackend('wasm');
  for (const [shape, image] of [
    [[3072], [32, 32, 3]],
    [
      [32, 32, 3],
      [32, 32, 3],
    ],
    [[784], [28, 28, 1]],
  ] as const) {
    const model = buildModel(spec({ kind: 'resnet' }), [...shape], 10, 1);
    assert.deepEqual((model.getLayer('image').outputShape as number[]).slice(1), image);
    assert.deepEqual((model.getLayer('pool').outputShape as number[]).slice(1), [64]);
    assert.deepEqual(sampleShape(model), [...shape]);
    model.dispose();
  }
});

test('the resnet summary lists its layers and counts batch norm statistics apart', async () => {
  await selectBackend('wasm');
  const model = buildModel(spec({ kind: 'resnet', blocks: 2 }), [32, 32, 3], 10, 1);
  const lines = summarizeModel(model);
  const text = lines.join('\n');
  assert.match(text, /stem_conv \(Conv2D\)\s+\[-1,32,32,16\]\s+432/);
  assert.match(text, /s1b0_proj \(Conv2D\)\s+\[-1,16,16,32\]\s+512/);
  assert.match(text, /s2b1_add \(Add\)\s+\[-1,8,8,64\]/);
  // Convolutions (no bias) + batch norm gamma/beta + the logits; moving mean/variance apart.
  const convs =
    3 * 3 * 3 * 16 +
    4 * 9 * 16 * 16 +
    (9 * 16 * 32 + 3 * 9 * 32 * 32 + 16 * 32) +
    (9 * 32 * 64 + 3 * 9 * 64 * 64 + 32 * 64);
  const bnChannels = 16 + 4 * 16 + (4 * 32 + 32) + (4 * 64 + 64);
  assert.equal(lines.at(-2), `Trainable params: ${(convs + 2 * bnChannels + 64 * 10 + 10).toLocaleString('en-US')}`);
  assert.equal(lines.at(-1), `Non-trainable params: ${(2 * bnChannels).toLocaleString('en-US')}`);
  model.dispose();
});

test('dropout is active in training only: evaluation is deterministic, training zeroes and rescales', async () => {
  await selectBackend('wasm');
  const model = buildModel(spec({ kind: 'mlp', hidden: [256], dropout: 0.5 }), [784], 10, 3);
  const { x } = randomBatch(32, 784, 5);
  const hidden = tf.tidy(() => {
    const xs = tf.tensor2d(x, [32, 784]);
    // The dense layer's output before and after dropout, through the model's own layers.
    const dense = model.getLayer('dense_0').apply(xs) as tf.Tensor;
    const drop = model.getLayer('dropout_0');
    return {
      dense: dense.dataSync().slice(),
      evalOut: (drop.apply(dense, { training: false }) as tf.Tensor).dataSync().slice(),
      trainOut: (drop.apply(dense, { training: true }) as tf.Tensor).dataSync().slice(),
    };
  });
  assert.deepEqual(hidden.evalOut, hidden.dense);
  let zeroed = 0;
  for (let i = 0; i < hidden.dense.length; i++) {
    const t = hidden.trainOut[i] as number;
    if (t === 0 && hidden.dense[i] !== 0) zeroed++;
    else assert.ok(Math.abs(t - 2 * (hidden.dense[i] as number)) < 1e-5, `kept unit ${i} not scaled by 1/(1-0.5)`);
  }
  const fraction = zeroed / hidden.dense.filter((v) => v !== 0).length;
  assert.ok(fraction > 0.4 && fraction < 0.6, `dropped ${fraction}`);
  const twice = tf.tidy(() => {
    const xs = tf.tensor2d(x, [32, 784]);
    return [0, 1].map(() => (model.apply(xs, { training: false }) as tf.Tensor).dataSync().slice());
  });
  assert.deepEqual(twice[0], twice[1]);
  model.dispose();
});

test('batch norm uses batch statistics in training and moving averages in evaluation', async () => {
  await selectBackend('wasm');
  const model = buildModel(spec({ kind: 'resnet', channels: [8] }), [12, 12, 3], 10, 4);
  const bn = model.getLayer('stem_bn');
  const movingMean = (): Float32Array => bn.getWeights()[2]!.dataSync() as Float32Array;
  const { x, y } = randomBatch(8, 12 * 12 * 3, 9);
  const before = movingMean().slice();
  assert.ok(before.every((v) => v === 0));
  const outputs = tf.tidy(() => {
    const xs = tf.tensor4d(x, [8, 12, 12, 3]);
    return [false, true].map((training) => (model.apply(xs, { training }) as tf.Tensor).dataSync().slice());
  });
  assert.notDeepEqual(outputs[0], outputs[1]);
  const layout = ParamLayout.ofModel(model);
  computeGradients(model, layout, x, y, 8, new Float32Array(layout.size));
  const after = movingMean();
  // The training-mode passes moved the moving mean (momentum 0.9) toward the batch mean.
  assert.ok(
    after.some((v, i) => Math.abs(v - (before[i] as number)) > 1e-4),
    'moving mean did not move in training',
  );
  tf.tidy(() => void model.apply(tf.tensor4d(x, [8, 12, 12, 3]), { training: false }));
  assert.deepEqual(movingMean(), after, 'evaluation changed the moving mean');
  // The statistics are not trainable: the gradient layout leaves them out.
  assert.equal(model.nonTrainableWeights.length, 2 * 3);
  model.dispose();
});

test('the resnet trains on random 32x32x3 images: the loss on a fixed batch falls over 12 steps', async () => {
  await selectBackend('wasm');
  const model = buildModel(spec({ kind: 'resnet' }), [32, 32, 3], 10, 6);
  const { x, y } = randomBatch(16, 32 * 32 * 3, 11);
  const losses = trainOnBatch(model, x, y, 12, 0.05);
  assert.ok(losses.every(Number.isFinite), `non-finite loss: ${losses}`);
  assert.ok(losses.at(-1)! < 0.7 * losses[0]!, `loss went ${losses.map((l) => l.toFixed(3)).join(' -> ')}`);
  model.dispose();
});

test('a cnn training step leaks no tensors over 100 steps and learns its batch', async () => {
  await selectBackend('wasm');
  const model = buildModel(spec({ kind: 'cnn', dropout: 0.25 }), [784], 10, 7);
  const { x, y } = randomBatch(8, 784, 13);
  trainOnBatch(model, x, y, 1, 0.01);
  const tensors = tf.memory().numTensors;
  const losses = trainOnBatch(model, x, y, 100, 0.01);
  assert.equal(tf.memory().numTensors, tensors);
  assert.ok(losses.at(-1)! < 0.5 * losses[0]!, `loss went ${losses[0]} -> ${losses.at(-1)}`);
  model.dispose();
});

test('a cnn gradient on wasm (the project kernels) equals the cpu backend one', async () => {
  const { x, y } = randomBatch(4, 784, 17);
  const gradsOn = async (backend: 'wasm' | 'cpu'): Promise<Float32Array> => {
    await selectBackend(backend);
    const model = buildModel(spec({ kind: 'cnn' }), [784], 10, 21);
    const layout = ParamLayout.ofModel(model);
    const grads = new Float32Array(layout.size);
    computeGradients(model, layout, x, y, 4, grads);
    model.dispose();
    return grads;
  };
  const wasm = await gradsOn('wasm');
  const cpu = await gradsOn('cpu');
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < cpu.length; i++) {
    worst = Math.max(worst, Math.abs((wasm[i] as number) - (cpu[i] as number)));
    scale = Math.max(scale, Math.abs(cpu[i] as number));
  }
  assert.ok(scale > 0);
  assert.ok(worst <= 1e-4 * scale, `max |wasm - cpu| ${worst} vs max |cpu| ${scale}`);
});
