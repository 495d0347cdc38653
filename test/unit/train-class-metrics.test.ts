/**
 * Per-class evaluation: precision, recall and F1 as scikit-learn's classification_report computes
 * them, the confusion matrix of a distributed evaluation equal to one rank's over the whole split,
 * and R^2 that survives a large target mean through the float32 all-reduce.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import { Communicator, MemoryHub } from '../../src/allreduce';
import type { RowSource } from '../../src/data';
import { buildMlp, classificationReport, evaluateRange, evaluateRegressionRange, rSquared } from '../../src/train';
import { evaluateSplit } from '../../src/worker/evaluate-split';
import { mnistSlice } from './train-harness';

const close = (a: number, b: number, what: string): void => assert.ok(Math.abs(a - b) < 1e-4, `${what}: ${a} vs ${b}`);

test('precision, recall and F1 per class, macro and weighted, as classification_report gives them', () => {
  // y_true [0,0,0,1,1,2], y_pred [0,0,1,1,2,2]; sklearn 1.3 prints these figures.
  const r = classificationReport(
    [
      [2, 1, 0],
      [0, 1, 1],
      [0, 0, 1],
    ],
    ['zero', 'one', 'two'],
  );
  assert.deepEqual(
    r.classes.map((c) => [c.label, c.support]),
    [
      ['zero', 3],
      ['one', 2],
      ['two', 1],
    ],
  );
  const want = [
    [1.0, 0.6667, 0.8],
    [0.5, 0.5, 0.5],
    [0.5, 1.0, 0.6667],
  ];
  r.classes.forEach((c, i) =>
    want[i]!.forEach((v, j) => close([c.precision, c.recall, c.f1][j]!, v, `class ${i} field ${j}`)),
  );
  close(r.accuracy, 0.6667, 'accuracy');
  close(r.macro.precision, 0.6667, 'macro precision');
  close(r.macro.recall, 0.7222, 'macro recall');
  close(r.macro.f1, 0.6556, 'macro f1');
  close(r.weighted.precision, 0.75, 'weighted precision');
  close(r.weighted.recall, 0.6667, 'weighted recall');
  close(r.weighted.f1, 0.6778, 'weighted f1');
  // A class never predicted and never present: 0, not NaN (zero_division=0).
  const empty = classificationReport([
    [3, 0],
    [0, 0],
  ]);
  assert.deepEqual([empty.classes[1]!.precision, empty.classes[1]!.recall, empty.classes[1]!.f1], [0, 0, 0]);
});

test('two ranks evaluating halves all-reduce the same confusion matrix one rank counts over the whole split', async () => {
  const { val } = await mnistSlice(1, 1000);
  const model = buildMlp({ hidden: [16], activation: 'relu' }, 784, 10, 3);
  try {
    const whole = evaluateRange(model, val, 0, val.count);
    const hub = new MemoryHub('eval', 2, 10_000);
    const got = await Promise.all(hub.endpoints().map((t) => evaluateSplit(model, val, new Communicator(t, {}))));
    assert.deepEqual(got[0]!.confusion, got[1]!.confusion);
    const flat = got[0]!.confusion!.flat();
    assert.deepEqual(flat, Array.from(whole.confusion!));
    assert.equal(
      flat.reduce((a, b) => a + b, 0),
      1000,
    );
    const trace = got[0]!.confusion!.reduce((s, row, i) => s + row[i]!, 0);
    assert.equal(trace, whole.correct);
    assert.equal(got[0]!.accuracy, whole.correct / 1000);
    // Rows are the true labels: each row sums to that digit's count in the split.
    for (let d = 0; d < 10; d++)
      assert.equal(
        got[0]!.confusion![d]!.reduce((a, b) => a + b, 0),
        Array.from(val.labels).filter((l) => l === d).length,
      );
  } finally {
    model.dispose();
  }
});

test('R^2 over two ranks matches the float64 formula, also for targets around 1e6', async () => {
  const n = 400;
  for (const offset of [0, 1e6]) {
    // Targets y = offset + 3a + noise; the "model" is a dense layer set to predict offset + 3a.
    const x = new Float32Array(n);
    const t = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      x[i] = ((i * 37) % 100) / 10 - 5;
      t[i] = offset + 3 * (x[i] as number) + Math.sin(i);
    }
    const rows: RowSource = {
      images: x,
      decode: undefined,
      labels: new Int32Array(n),
      count: n,
      targets: t,
      features: 1,
      classes: 1,
    };
    const model = buildMlp({ hidden: [], activation: 'relu' }, 1, 1, 1);
    try {
      model.layers[0]!.setWeights([tf.tensor2d([[3]]), tf.tensor1d([offset])]);
      let ssRes = 0;
      let mean = 0;
      for (let i = 0; i < n; i++) mean += t[i]! / n;
      let ssTot = 0;
      for (let i = 0; i < n; i++) {
        const pred = Math.fround(Math.fround(3 * x[i]!) + offset);
        ssRes += (pred - t[i]!) ** 2;
        ssTot += (t[i]! - mean) ** 2;
      }
      const want = 1 - ssRes / ssTot;
      const one = evaluateRegressionRange(model, rows, 0, n);
      close(rSquared(one.regression!, n), want, `one rank, offset ${offset}`);
      const hub = new MemoryHub('r2', 2, 10_000);
      const got = await Promise.all(hub.endpoints().map((tr) => evaluateSplit(model, rows, new Communicator(tr, {}))));
      assert.ok(want > 0.9 && want < 1, `fixture R^2 ${want}`);
      close(got[0]!.r2!, want, `two ranks, offset ${offset}`);
      assert.equal(got[0]!.r2, got[1]!.r2);
    } finally {
      model.dispose();
    }
  }
});
