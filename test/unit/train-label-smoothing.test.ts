/**
 * Label smoothing (train.labelSmoothing), as torch's nn.CrossEntropyLoss(label_smoothing=e):
 * the loss and its gradient against a float64 computation written out here, and the DDP
 * contract with smoothing on.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import { DEFAULT_JOB, validateJob } from '../../src/config';
import { softmaxCrossEntropy } from '../../src/train';
import { configError } from './support';
import { mnistSlice, relativeDifference, specWith, trainRanks } from './train-harness';

const LOGITS = [
  [2.0, -1.0, 0.5, 0.0],
  [-0.3, 0.8, 1.7, -2.2],
  [0.1, 0.1, 0.1, 3.0],
];
const LABELS = [0, 2, 1];

/** torch's formula in float64: mean over rows of -sum_k q_k log p_k, q = (1 - e) onehot + e / K. */
function expectedLoss(e: number): number {
  let total = 0;
  for (let i = 0; i < LOGITS.length; i++) {
    const row = LOGITS[i] as number[];
    const max = Math.max(...row);
    const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
    row.forEach((v, k) => {
      const q = (k === LABELS[i] ? 1 - e : 0) + e / row.length;
      total -= q * (v - lse);
    });
  }
  return total / LOGITS.length;
}

/** d loss / d logits = (softmax - q) / batch. */
function expectedGrad(e: number): number[][] {
  return LOGITS.map((row, i) => {
    const z = row.reduce((s, v) => s + Math.exp(v), 0);
    return row.map((v, k) => (Math.exp(v) / z - ((k === LABELS[i] ? 1 - e : 0) + e / row.length)) / LOGITS.length);
  });
}

test('the smoothed loss and its gradient match the float64 formula of torch label_smoothing', async () => {
  await mnistSlice(1, 1); // selects the wasm backend, as training does
  const logits = tf.tensor2d(LOGITS);
  const labels = tf.tensor1d(LABELS, 'int32');
  for (const e of [0, 0.1, 0.5, 1]) {
    const loss = softmaxCrossEntropy(logits, labels, e);
    const got = loss.dataSync()[0] as number;
    loss.dispose();
    assert.ok(Math.abs(got - expectedLoss(e)) < 1e-5, `e=${e}: loss ${got}, expected ${expectedLoss(e)}`);
    const grad = tf.grad((l: tf.Tensor) => softmaxCrossEntropy(l as tf.Tensor2D, labels, e))(logits);
    const g = grad.arraySync() as number[][];
    grad.dispose();
    expectedGrad(e).forEach((row, i) =>
      row.forEach((want, k) =>
        assert.ok(
          Math.abs((g[i]?.[k] as number) - want) < 1e-6,
          `e=${e}: grad[${i}][${k}] ${g[i]?.[k]}, expected ${want}`,
        ),
      ),
    );
  }
  // Smoothing changes the value (so the comparisons above are not all of e = 0).
  assert.ok(expectedLoss(0.1) - expectedLoss(0) > 0.05);
  logits.dispose();
  labels.dispose();
});

test('with label smoothing, 2 workers x batch 16 train like 1 worker x batch 32, and differently from no smoothing', async () => {
  const data = await mnistSlice(20 * 32, 64);
  const run = async (world: number, labelSmoothing: number): Promise<Float32Array[]> => {
    const spec = specWith({ data: { batchSize: 32 / world }, train: { epochs: 1, labelSmoothing } });
    const ranks = await trainRanks({ world, spec, data });
    for (const r of ranks) assert.equal(r.error, undefined, String(r.error));
    return ranks.map((r) => r.weights);
  };
  const [single] = await run(1, 0.1);
  const pair = await run(2, 0.1);
  const [plain] = await run(1, 0);
  assert.deepEqual(pair[0], pair[1], 'the two replicas differ');
  const rel = relativeDifference(single!, pair[0]!);
  assert.ok(rel <= 1e-5, `2 workers are ${rel} away from 1 worker`);
  const applied = relativeDifference(single!, plain!);
  assert.ok(applied > 1e-3, `smoothing 0.1 left the weights within ${applied} of no smoothing`);
});

test('train.labelSmoothing is checked: a fraction from 0 to 1, and not with a regression task', () => {
  assert.equal(validateJob({ train: { labelSmoothing: 0.1 } }, 'job.yaml').train.labelSmoothing, 0.1);
  assert.equal(DEFAULT_JOB.train.labelSmoothing, 0);
  assert.match(
    configError(() => validateJob({ train: { labelSmoothing: 1.5 } }, 'job.yaml')),
    /job\.yaml: train\.labelSmoothing must be .*1.*got 1\.5/,
  );
  assert.match(
    configError(() => validateJob({ train: { labelSmoothing: -0.1 } }, 'job.yaml')),
    /train\.labelSmoothing must be .*got -0\.1/,
  );
  const msg = configError(() =>
    validateJob({ data: { task: 'regression' }, train: { labelSmoothing: 0.2 } }, 'job.yaml'),
  );
  assert.match(
    msg,
    /job\.yaml: train\.labelSmoothing \(0\.2\) applies to classification, but data\.task is regression .*set train\.labelSmoothing to 0/,
  );
});

test('a dataset with regression targets refuses label smoothing before training starts', async () => {
  const data = await mnistSlice(64, 16);
  const train = { ...data.train, targets: new Float32Array(data.train.count), classes: 1 };
  const spec = specWith({ train: { epochs: 1, labelSmoothing: 0.1 } });
  await assert.rejects(
    trainRanks({ world: 1, spec, data: { train, val: data.val } }),
    /train\.labelSmoothing \(0\.1\) applies to classification, but this dataset gives regression targets .*set train\.labelSmoothing to 0/,
  );
});
