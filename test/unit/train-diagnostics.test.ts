import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../src/compute';
import { DEFAULT_JOB } from '../../src/config';
import { ParamLayout, buildMlp, computeGradients } from '../../src/train';
import {
  EXPLODING_ABSOLUTE,
  gradientWarnings,
  groupByLayer,
  histogram,
  l2Norm,
  layerOf,
  layerStats,
  sumSquares,
  overfittingWarning,
  variableHistograms,
} from '../../src/train/diagnostics';
import { nativeUpdates, setNativeKernels } from '../../src/native';

const SLOTS = [
  { name: 'dense_0/kernel', offset: 0, size: 2 },
  { name: 'dense_0/bias', offset: 2, size: 1 },
  { name: 'logits/kernel', offset: 3, size: 2 },
];

test('variables group into layers by name scope, in model order', () => {
  assert.equal(layerOf('dense_0/kernel'), 'dense_0');
  assert.equal(layerOf('conv/block1/kernel'), 'conv/block1');
  assert.equal(layerOf('scale'), 'scale');
  assert.deepEqual(
    groupByLayer(SLOTS).map((g) => [g.layer, g.slots.map((s) => s.name)]),
    [
      ['dense_0', ['dense_0/kernel', 'dense_0/bias']],
      ['logits', ['logits/kernel']],
    ],
  );
});

test('per-layer stats take the norm over all of a layer’s variables and divide the update by the new weights', () => {
  const grads = Float32Array.from([3, 0, 4, 1, 0]);
  const before = Float32Array.from([1, 1, 0, 2, 0]);
  const after = Float32Array.from([1, 2, 2, 2, 0.5]);
  const stats = layerStats(SLOTS, grads, before, after);
  assert.deepEqual(
    stats.map((s) => s.layer),
    ['dense_0', 'logits'],
  );
  assert.equal(stats[0]?.gradNorm, 5);
  assert.equal(stats[0]?.weightNorm, 3);
  assert.equal(stats[0]?.updateNorm, Math.sqrt(5));
  assert.equal(stats[0]?.updateRatio, Math.sqrt(5) / 3);
  assert.equal(stats[1]?.gradNorm, 1);
  assert.equal(stats[1]?.updateRatio, 0.5 / Math.sqrt(4.25));
  assert.equal(l2Norm(grads), Math.sqrt(26));
});

test('a histogram puts each finite value in one equal-width bin and counts the rest apart', () => {
  const h = histogram(Float32Array.from([0, 1, 1, 2, 3, 4, NaN, Infinity]), 4);
  assert.deepEqual(h.edges, [0, 1, 2, 3, 4]);
  assert.deepEqual(h.counts, [1, 2, 1, 2]);
  assert.equal(h.count, 6);
  assert.equal(h.nonFinite, 2);
  assert.equal(h.sum, 11);
  assert.equal(h.sumSquares, 31);
  assert.deepEqual([h.min, h.max], [0, 4]);
  const constant = histogram(Float32Array.from([0.25, 0.25]), 10);
  assert.deepEqual(constant.edges, [-0.25, 0.75]);
  assert.deepEqual(constant.counts, [2]);
  const perVar = variableHistograms(SLOTS, Float32Array.from([1, 2, 3, 4, 5]), 2);
  assert.deepEqual(Object.keys(perVar), ['dense_0/kernel', 'dense_0/bias', 'logits/kernel']);
  assert.deepEqual(perVar['logits/kernel']?.counts, [1, 1]);
});

test("the native histogram and sums of squares give the JS loops' figures exactly: random, skewed, constant, empty and non-finite inputs", (t) => {
  if (nativeUpdates()?.histogram === undefined || nativeUpdates()?.sumSquaredDiff === undefined)
    return t.skip('the native addon is not built here');
  let seed = 7;
  const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  const inputs: Float32Array[] = [
    Float32Array.from({ length: 100_003 }, random),
    Float32Array.from({ length: 5_000 }, () => random() ** 7 * 1e-3),
    Float32Array.from({ length: 10 }, () => -3.5),
    new Float32Array(0),
    Float32Array.from([NaN, Infinity, -Infinity]),
    Float32Array.from([-0, 0, 1e-38, -1e-38, 3.4e38, -3.4e38, NaN, 2]),
  ];
  const figures = (v: Float32Array): unknown[] => {
    const other = v.map((x, i) => x * 0.5 + i * 1e-6);
    return [
      ...[1, 7, 30].map((bins) => histogram(v, bins)),
      ...[sumSquares(v), sumSquares(v, 1, Math.max(1, v.length - 1)), sumSquares(v, 0, v.length, other)],
    ];
  };
  for (const values of inputs) {
    const native = figures(values);
    setNativeKernels(false);
    try {
      assert.deepEqual(native, figures(values), `${values.length} values`);
    } finally {
      setNativeKernels(true);
    }
  }
});

/** Per-layer stats of one real gradient of a freshly built MLP on random MNIST-shaped data. */
function statsOf(hidden: number[], activation: 'relu' | 'sigmoid', weightScale = 1): ReturnType<typeof layerStats> {
  const model = buildMlp({ kind: 'mlp', hidden, activation }, 784, 10, DEFAULT_JOB.seed);
  const layout = ParamLayout.ofModel(model);
  const weights = new Float32Array(layout.size);
  layout.readWeights(weights);
  for (let i = 0; i < weights.length; i++) weights[i] = (weights[i] as number) * weightScale;
  layout.writeWeights(weights);
  let seed = 7;
  const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const batch = 32;
  const x = Float32Array.from({ length: batch * 784 }, rand);
  const y = Int32Array.from({ length: batch }, (_, i) => i % 10);
  const grads = new Float32Array(layout.size);
  computeGradients(model, layout, x, y, batch, grads);
  const stats = layerStats(layout.slots, grads, weights, weights);
  model.dispose();
  return stats;
}

test('a healthy relu MLP raises no gradient warning, a deep sigmoid stack warns of vanishing, scaled weights of exploding', async () => {
  await selectBackend('cpu');
  const before = tf.memory().numTensors;
  const healthy = statsOf([128], 'relu');
  assert.deepEqual(gradientWarnings(healthy), []);

  const deep = statsOf([32, 32, 32, 32, 32, 32, 32, 32], 'sigmoid');
  const vanishing = gradientWarnings(deep);
  assert.ok(
    vanishing.length > 0,
    `expected vanishing warnings; layer norms ${deep.map((l) => l.gradNorm.toExponential(1)).join(' ')}`,
  );
  assert.ok(vanishing.every((w) => w.kind === 'vanishing-gradient'));
  // The first layer is furthest from the loss: its gradient vanishes first.
  assert.equal(vanishing[0]?.layer, 'dense_0');
  assert.match(vanishing[0]?.message ?? '', /layer dense_0 gradient norm .* is under 0\.001 of the largest layer's/);

  const exploding = statsOf([64, 64, 64], 'relu', 12);
  const global = Math.sqrt(exploding.reduce((s, l) => s + l.gradNorm ** 2, 0));
  assert.ok(global > EXPLODING_ABSOLUTE, `global norm ${global}`);
  assert.equal(gradientWarnings(exploding)[0]?.kind, 'exploding-gradient');
  assert.equal(tf.memory().numTensors, before, 'no tensor leaked');
});

test('growth over the first recorded norm and non-finite gradients are called out', () => {
  const layers = [
    { layer: 'a', gradNorm: 30, weightNorm: 1, updateNorm: 0, updateRatio: 0 },
    { layer: 'b', gradNorm: 40, weightNorm: 1, updateNorm: 0, updateRatio: 0 },
  ];
  // Global norm 50: 125x over 0.4 is exploding, 50x over 1 is not.
  assert.deepEqual(
    gradientWarnings(layers, 0.4).map((w) => w.kind),
    ['exploding-gradient'],
  );
  assert.match(gradientWarnings(layers, 0.4)[0]?.message ?? '', /grew from 0\.4000 to 50\.00 \(over 100x\)/);
  assert.deepEqual(gradientWarnings(layers, 1), []);
  const nan = gradientWarnings([{ ...layers[0]!, gradNorm: NaN }, layers[1]!]);
  assert.deepEqual(
    nan.map((w) => w.kind),
    ['non-finite-gradient'],
  );
  assert.match(nan[0]?.message ?? '', /in a:/);
});

test('over-fitting is called after val loss rises while train loss falls two epochs in a row', () => {
  const h = (rows: [number, number][]): { epoch: number; trainLoss: number; valLoss: number }[] =>
    rows.map(([trainLoss, valLoss], i) => ({ epoch: i + 1, trainLoss, valLoss }));
  assert.equal(
    overfittingWarning(
      h([
        [1, 1],
        [0.8, 0.9],
        [0.6, 0.85],
      ]),
    ),
    undefined,
    'both falling',
  );
  assert.equal(
    overfittingWarning(
      h([
        [1, 1],
        [0.8, 0.9],
        [0.6, 0.95],
      ]),
    ),
    undefined,
    'one epoch of rise is noise',
  );
  assert.equal(
    overfittingWarning(
      h([
        [0.8, 0.9],
        [0.7, 0.95],
        [0.75, 1.0],
      ]),
    ),
    undefined,
    'train loss rose too',
  );
  const w = overfittingWarning(
    h([
      [1, 1],
      [0.8, 0.9],
      [0.6, 0.95],
      [0.5, 1.1],
    ]),
  );
  assert.equal(w?.kind, 'overfitting');
  assert.equal(
    w?.message,
    'over-fitting: from epoch 2 to 4 validation loss rose 0.9000 -> 1.100 while training loss fell 0.8000 -> 0.5000; consider early stopping, more data or regularisation',
  );
  assert.equal(
    overfittingWarning(
      h([
        [1, 1],
        [0.8, 1.2],
      ]),
      1,
    )?.kind,
    'overfitting',
  );
});
