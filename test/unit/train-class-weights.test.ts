/**
 * Class weights (train.classWeights, train.balanceClasses), as torch's
 * nn.CrossEntropyLoss(weight=w): the loss and its gradient against values torch 1.13 printed,
 * the step's division by the global batch's weight (so N workers train like one, which torch
 * DDP with a per-rank weighted mean does not), and the configuration checks.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import { DEFAULT_JOB, validateJob } from '../../src/config';
import { balancedClassWeights, meanLabelWeight, softmaxCrossEntropy } from '../../src/train';
import { classWeightsFor } from '../../src/worker/class-weights';
import { configError } from './support';
import { mnistSlice, relativeDifference, specWith, trainRanks, type SpecPatch } from './train-harness';

const LOGITS = [
  [2.0, -1.0, 0.5, 0.0],
  [-0.3, 0.8, 1.7, -2.2],
  [0.1, 0.1, 0.1, 3.0],
];
const LABELS = [0, 2, 1];
const WEIGHTS = [0.5, 2.0, 1.0, 3.0];

/**
 * torch.nn.functional.cross_entropy(logits, labels, weight=WEIGHTS, label_smoothing=e) and its
 * gradient by the logits, printed by torch 1.13 in float64.
 */
const TORCH: Record<number, { loss: number; grad: number[][] }> = {
  0: {
    loss: 1.920799318240774,
    grad: [
      [-0.04141429673054653, 0.005050541915535552, 0.02263495850213996, 0.01372879631287103],
      [0.02475261763796926, 0.07436097291172446, -0.1028158053919506, 0.003702214842256901],
      [0.026987090220567504, -0.5444414812080038, 0.026987090220567504, 0.49046730076686895],
    ],
  },
  0.1: {
    loss: 2.0449175643942734,
    grad: [
      [-0.007875370637776631, -0.008098800439183235, 0.020584967022264315, -0.0046107959453044155],
      [0.022728227668913765, 0.06472281943299295, -0.06995607894323325, -0.01749496815867347],
      [0.02290965370750329, -0.5020903462924967, 0.01933822513607472, 0.4598424674489187],
    ],
  },
};

test('the weighted loss and its gradient, divided by the rows mean weight, are torch cross_entropy(weight=w) with and without smoothing', async () => {
  await mnistSlice(1, 1); // selects the wasm backend, as training does
  const logits = tf.tensor2d(LOGITS);
  const labels = tf.tensor1d(LABELS, 'int32');
  const weights = tf.tensor1d(WEIGHTS);
  const meanWeight = meanLabelWeight(Int32Array.from(LABELS), LABELS.length, Float32Array.from(WEIGHTS));
  assert.ok(Math.abs(meanWeight - (0.5 + 1.0 + 2.0) / 3) < 1e-7, `mean weight ${meanWeight}`);
  for (const e of [0, 0.1]) {
    const want = TORCH[e] as { loss: number; grad: number[][] };
    const loss = softmaxCrossEntropy(logits, labels, e, weights);
    const got = (loss.dataSync()[0] as number) / meanWeight;
    loss.dispose();
    assert.ok(Math.abs(got - want.loss) < 1e-5, `e=${e}: loss ${got}, torch ${want.loss}`);
    const grad = tf.grad((l: tf.Tensor) => softmaxCrossEntropy(l as tf.Tensor2D, labels, e, weights))(logits);
    const g = grad.arraySync() as number[][];
    grad.dispose();
    want.grad.forEach((row, i) =>
      row.forEach((w, k) => {
        const mine = (g[i]?.[k] as number) / meanWeight;
        assert.ok(Math.abs(mine - w) < 1e-6, `e=${e}: grad[${i}][${k}] ${mine}, torch ${w}`);
      }),
    );
  }
  tf.dispose([logits, labels, weights]);
});

interface Trained {
  weights: Float32Array[];
  /** Rank 0's loss of every optimizer step. */
  losses: number[];
}

async function train(world: number, train: SpecPatch['train'], batchSize = 32 / world): Promise<Trained> {
  const data = await mnistSlice(12 * 32, 64);
  const spec = specWith({ data: { batchSize }, train: { epochs: 1, ...train } });
  const losses: number[] = [];
  const ranks = await trainRanks({
    world,
    spec,
    data,
    hooks: (rank) => ({
      onStepDetail: (s) => {
        if (rank === 0) losses.push(s.loss);
      },
    }),
  });
  for (const r of ranks) assert.equal(r.error, undefined, String(r.error));
  return { weights: ranks.map((r) => r.weights), losses };
}

/** Heavy on class 0, light on 7, so the two ranks' halves of a batch weigh differently. */
const SKEWED = [5, 1, 1, 1, 1, 1, 1, 0.2, 1, 1];

test('with class weights, 2 workers x batch 16 and 1 worker accumulating 2 x 16 train like 1 worker x batch 32, step losses included', async () => {
  const single = await train(1, { classWeights: SKEWED });
  const pair = await train(2, { classWeights: SKEWED });
  const accumulated = await train(1, { classWeights: SKEWED, accumulate: 2 }, 16);
  const plain = await train(1, {});
  assert.deepEqual(pair.weights[0], pair.weights[1], 'the two replicas differ');
  const rel = relativeDifference(single.weights[0]!, pair.weights[0]!);
  assert.ok(rel <= 1e-5, `2 workers are ${rel} away from 1 worker`);
  const relAcc = relativeDifference(single.weights[0]!, accumulated.weights[0]!);
  assert.ok(relAcc <= 1e-5, `accumulating 2 x 16 is ${relAcc} away from batch 32`);
  assert.equal(pair.losses.length, single.losses.length);
  single.losses.forEach((l, i) =>
    assert.ok(
      Math.abs(l - (pair.losses[i] as number)) <= 1e-5 * Math.abs(l),
      `step ${i + 1}: loss ${pair.losses[i]} on 2 workers, ${l} on 1`,
    ),
  );
  const applied = relativeDifference(single.weights[0]!, plain.weights[0]!);
  assert.ok(applied > 1e-3, `skewed class weights left the weights within ${applied} of none`);
});

test('the same weight on every class trains exactly like no weights: the step divides by the global mean weight', async () => {
  const uniform = await train(2, { classWeights: new Array(10).fill(2.5) });
  const plain = await train(2, {});
  const rel = relativeDifference(plain.weights[0]!, uniform.weights[0]!);
  assert.ok(rel <= 1e-5, `weights of 2.5 everywhere are ${rel} away from none`);
  plain.losses.forEach((l, i) =>
    assert.ok(
      Math.abs(l - (uniform.losses[i] as number)) <= 1e-5 * Math.abs(l),
      `step ${i + 1}: loss ${uniform.losses[i]} against ${l}`,
    ),
  );
});

test('balanced weights are n / (classes x count), as scikit-learn computes them, and 0 for an empty class', () => {
  const labels = [0, 0, 0, 1, 2, 2, 0, 1];
  const w = balancedClassWeights(labels, 4);
  const want = [8 / (4 * 4), 8 / (4 * 2), 8 / (4 * 2), 0];
  want.forEach((v, k) => assert.ok(Math.abs((w[k] as number) - v) < 1e-7, `class ${k}: ${w[k]}, expected ${v}`));
});

test("train.balanceClasses weighs a rank's loss from the whole training split's counts", async () => {
  const data = await mnistSlice(12 * 32, 64);
  const spec = specWith({ train: { balanceClasses: true } });
  const w = classWeightsFor(spec.train, data.train);
  assert.ok(w !== undefined);
  const counts = new Array<number>(10).fill(0);
  for (const l of data.train.labels.subarray(0, data.train.count)) counts[l] = (counts[l] as number) + 1;
  counts.forEach((c, k) =>
    assert.ok(Math.abs((w[k] as number) - data.train.count / (10 * c)) < 1e-6, `class ${k}: ${w[k]} for ${c} samples`),
  );
  assert.equal(classWeightsFor(specWith({}).train, data.train), undefined);
});

test('class weights are checked: one per class, not negative, not all 0, not both kinds, not for regression', async () => {
  assert.deepEqual(validateJob({ train: { classWeights: [1, 0.5] } }, 'job.yaml').train.classWeights, [1, 0.5]);
  assert.deepEqual(DEFAULT_JOB.train.classWeights, []);
  assert.equal(DEFAULT_JOB.train.balanceClasses, false);
  assert.match(
    configError(() => validateJob({ train: { classWeights: [1, -2] } }, 'job.yaml')),
    /job\.yaml: train\.classWeights must be a list of numbers >= 0, like \[1, 2\.5, 0\.5\], got \[1,-2\]/,
  );
  assert.match(
    configError(() => validateJob({ train: { classWeights: [0, 0] } }, 'job.yaml')),
    /job\.yaml: train\.classWeights are all 0, so no sample would count/,
  );
  assert.match(
    configError(() => validateJob({ train: { classWeights: [1, 2], balanceClasses: true } }, 'job.yaml')),
    /job\.yaml: train\.classWeights and train\.balanceClasses both set the class weights: keep one/,
  );
  assert.match(
    configError(() => validateJob({ data: { task: 'regression' }, train: { balanceClasses: true } }, 'job.yaml')),
    /job\.yaml: train\.balanceClasses applies to classification, but data\.task is regression .*remove train\.balanceClasses/,
  );
  const data = await mnistSlice(64, 16);
  assert.match(
    configError(() => classWeightsFor(specWith({ train: { classWeights: [1, 2, 3] } }).train, data.train)),
    /train\.classWeights has 3 weights, but the dataset has 10 classes: give one weight per class/,
  );
  const regression = { ...data.train, targets: new Float32Array(data.train.count), classes: 1 };
  assert.match(
    configError(() => classWeightsFor(specWith({ train: { classWeights: [1] } }).train, regression)),
    /train\.classWeights applies to classification, but this dataset gives regression targets .*remove train\.classWeights/,
  );
});
