/**
 * ONNX export checked by a real runtime: every model kind (and a layer list and a functional
 * model that use every layer and activation ringtrain translates) is exported, loaded by
 * onnxruntime-node, and run on the first 1,000 MNIST test images; its outputs must equal the
 * tfjs model's to 1e-5. Weights are seeded initialisations, and every batch norm gets random
 * statistics, so normalisation is not the identity it is before training.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { DEFAULT_JOB, type ModelSpec } from '../../src/config';
import { readRows } from '../../src/data';
import { ONNX_INPUT, ONNX_OUTPUT, buildModel, modelToOnnx, unsupportedLayers } from '../../src/train';
import { mnistSlice } from './train-harness';

const IMAGES = 1000;
const TOLERANCE = 1e-5;

/** A deterministic generator for the batch-norm statistics (mulberry32). */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** gamma, beta and the moving mean around 0, the moving variance in 0.5..1.5. */
function randomizeBatchNorms(model: tfl.LayersModel, seed: number): number {
  const rand = seeded(seed);
  let count = 0;
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    count++;
    layer.setWeights(
      layer.weights.map((w) =>
        tf.tensor(
          Float32Array.from({ length: w.shape.reduce((a: number, b) => a * (b ?? 1), 1) }, () =>
            w.name.includes('variance') ? 0.5 + rand() : rand() - 0.5,
          ),
          w.shape as number[],
        ),
      ),
    );
  }
  return count;
}

async function testImages(): Promise<Float32Array> {
  const { val } = await mnistSlice(1, IMAGES);
  assert.equal(val.count, IMAGES);
  return readRows(val, 0, IMAGES).slice();
}

/** Runs the model through tfjs and through ONNX Runtime; returns the largest difference and the outputs' scale. */
async function compare(
  model: tfl.LayersModel,
  x: Float32Array,
): Promise<{ maxDiff: number; maxAbs: number; classes: number }> {
  const exported = modelToOnnx(model);
  const session = await InferenceSession.create(Buffer.from(exported.bytes));
  try {
    assert.deepEqual([session.inputNames, session.outputNames], [[ONNX_INPUT], [ONNX_OUTPUT]]);
    const features = x.length / IMAGES;
    const got = (await session.run({ [ONNX_INPUT]: new Tensor('float32', x, [IMAGES, features]) }))[ONNX_OUTPUT];
    assert.ok(got !== undefined);
    const want = tf.tidy(
      () => (model.predict(tf.tensor(x, [IMAGES, features])) as tf.Tensor).dataSync() as Float32Array,
    );
    assert.deepEqual(got.dims, [IMAGES, want.length / IMAGES]);
    const onnx = got.data as Float32Array;
    let maxDiff = 0;
    let maxAbs = 0;
    for (let i = 0; i < want.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs((want[i] as number) - (onnx[i] as number)));
      maxAbs = Math.max(maxAbs, Math.abs(want[i] as number));
    }
    return { maxDiff, maxAbs, classes: want.length / IMAGES };
  } finally {
    await session.release();
  }
}

const spec = (patch: Partial<ModelSpec>): ModelSpec => ({ ...DEFAULT_JOB.model, ...patch });

for (const [kind, activation] of [
  ['mlp', 'relu'],
  ['mlp', 'leakyRelu'],
  ['cnn', 'relu'],
  ['resnet', 'relu'],
] as const) {
  test(`the built-in ${kind} (${activation}) exported to ONNX gives tfjs's outputs on 1,000 test images to 1e-5`, async () => {
    const x = await testImages();
    const model = buildModel(spec({ kind, activation, dropout: 0.2 }), [784], 10, 7);
    try {
      if (kind === 'resnet') assert.ok(randomizeBatchNorms(model, 3) > 0);
      const r = await compare(model, x);
      assert.equal(r.classes, 10);
      assert.ok(r.maxAbs > 0.1, `outputs too small to mean anything (${r.maxAbs})`);
      assert.ok(
        r.maxDiff <= TOLERANCE,
        `${kind}: ONNX Runtime and tfjs differ by ${r.maxDiff} (outputs up to ${r.maxAbs})`,
      );
    } finally {
      model.dispose();
    }
  });
}

test('a layer list with every layer type and every offered activation exports to ONNX with the same outputs', async () => {
  const x = await testImages();
  const layers = [
    { type: 'conv2d', filters: 6, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' },
    { type: 'batchNorm' },
    { type: 'conv2d', filters: 8, kernelSize: 3, padding: 'valid', activation: 'elu' },
    { type: 'maxPool2d', poolSize: 2 },
    { type: 'conv2d', filters: 8, kernelSize: 2, padding: 'same', activation: 'selu' },
    { type: 'conv2d', filters: 8, kernelSize: 1, activation: 'leakyRelu' },
    { type: 'avgPool2d', poolSize: 2, strides: 1 },
    { type: 'dropout', rate: 0.3 },
    { type: 'flatten' },
    { type: 'dense', units: 24, activation: 'tanh' },
    { type: 'batchNorm' },
    { type: 'dense', units: 20, activation: 'sigmoid' },
    { type: 'dense', units: 16, activation: 'leakyRelu' },
    { type: 'dense', units: 16, activation: 'linear' },
    { type: 'dense', units: 16 },
  ];
  const model = buildModel(spec({ kind: 'layers', layers }), [784], 10, 11);
  try {
    assert.equal(randomizeBatchNorms(model, 5), 2);
    const r = await compare(model, x);
    assert.ok(r.maxAbs > 0.1, `outputs too small to mean anything (${r.maxAbs})`);
    assert.ok(r.maxDiff <= TOLERANCE, `layer list: ONNX Runtime and tfjs differ by ${r.maxDiff}`);
  } finally {
    model.dispose();
  }
});

test('activation layers (LeakyReLU, ReLU with a cap, ELU, softmax and the other tfjs activations) export with the same outputs', async () => {
  const x = await testImages();
  const input = tfl.input({ shape: [784], name: 'input' });
  let h = tfl.layers.reshape({ targetShape: [28, 28, 1], name: 'image' }).apply(input) as tfl.SymbolicTensor;
  h = tfl.layers
    .conv2d({
      filters: 4,
      kernelSize: 3,
      padding: 'same',
      kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }),
      name: 'conv',
    })
    .apply(h) as tfl.SymbolicTensor;
  h = tfl.layers.leakyReLU({ alpha: 0.1, name: 'leaky' }).apply(h) as tfl.SymbolicTensor;
  h = tfl.layers
    .averagePooling2d({ poolSize: 3, strides: 2, padding: 'same', name: 'avg_same' })
    .apply(h) as tfl.SymbolicTensor;
  h = tfl.layers
    .maxPooling2d({ poolSize: 3, strides: 2, padding: 'same', name: 'max_same' })
    .apply(h) as tfl.SymbolicTensor;
  const pooled = tfl.layers.globalMaxPooling2d({ name: 'gmax' }).apply(h) as tfl.SymbolicTensor;
  let d = tfl.layers
    .dense({ units: 32, kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }), name: 'd0' })
    .apply(tfl.layers.flatten({ name: 'flat' }).apply(h)) as tfl.SymbolicTensor;
  for (const [i, act] of (['relu6', 'softplus', 'softsign', 'hardSigmoid', 'swish', 'mish'] as const).entries()) {
    d = tfl.layers.activation({ activation: act, name: `act_${act}` }).apply(d) as tfl.SymbolicTensor;
    d = tfl.layers
      .dense({ units: 32, kernelInitializer: tfl.initializers.glorotUniform({ seed: 10 + i }), name: `d${i + 1}` })
      .apply(d) as tfl.SymbolicTensor;
  }
  d = tfl.layers.reLU({ maxValue: 0.5, name: 'relu_capped' }).apply(d) as tfl.SymbolicTensor;
  d = tfl.layers
    .elu({ name: 'elu_layer' })
    .apply(tfl.layers.dense({ units: 4, name: 'd_to4' }).apply(d)) as tfl.SymbolicTensor;
  const joined = tfl.layers.add({ name: 'join' }).apply([d, pooled]) as tfl.SymbolicTensor;
  const out = tfl.layers
    .softmax({ name: 'probs' })
    .apply(tfl.layers.dense({ units: 10, activation: 'tanh', name: 'logits' }).apply(joined)) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: out, name: 'activations' });
  try {
    const r = await compare(model, x);
    assert.ok(r.maxDiff <= TOLERANCE, `activations: ONNX Runtime and tfjs differ by ${r.maxDiff}`);
  } finally {
    model.dispose();
  }
});

test('a model with layers ONNX export cannot translate is refused, naming each of them', () => {
  const input = tfl.input({ shape: [28, 28, 1], name: 'input' });
  const up = tfl.layers.upSampling2d({ size: [2, 2], name: 'upsample' }).apply(input) as tfl.SymbolicTensor;
  const norm = tfl.layers
    .layerNormalization({ name: 'layer_norm' })
    .apply(tfl.layers.flatten({ name: 'flat' }).apply(up)) as tfl.SymbolicTensor;
  const model = tfl.model({
    inputs: input,
    outputs: tfl.layers.dense({ units: 3, name: 'out' }).apply(norm) as tfl.SymbolicTensor,
  });
  try {
    assert.deepEqual(unsupportedLayers(model), ['upsample (UpSampling2D)', 'layer_norm (LayerNormalization)']);
    assert.throws(
      () => modelToOnnx(model),
      /cannot export to ONNX: no translation for layers upsample \(UpSampling2D\), layer_norm \(LayerNormalization\); ringtrain exports Dense, Conv2D/,
    );
  } finally {
    model.dispose();
  }
  const gelu = tfl.sequential({
    layers: [tfl.layers.dense({ units: 3, inputShape: [4], activation: 'gelu', name: 'dense_gelu' })],
  });
  try {
    assert.throws(
      () => modelToOnnx(gelu),
      /layer 'dense_gelu' uses activation 'gelu', which ringtrain cannot export to ONNX/,
    );
  } finally {
    gelu.dispose();
  }
});
