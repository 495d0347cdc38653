/**
 * Knowledge distillation (train.distill): the loss and its gradient against the formula of the
 * PyTorch tutorial computed here in float64, and training across workers: 2 workers x 16 train
 * like 1 worker x 32 (each rank's teacher sees its own rows, and the soft loss is a mean over
 * rows), alpha 0 is plain cross-entropy, and the teacher does move the weights.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { validateJob } from '../../src/config';
import { buildMlp, distillationLoss } from '../../src/train';
import { configError } from './support';
import { mnistSlice, relativeDifference, specWith, trainRanks, type SpecPatch } from './train-harness';

const STUDENT = [
  [2.0, -1.0, 0.5, 0.0],
  [-0.3, 0.8, 1.7, -2.2],
  [0.1, 0.1, 0.1, 3.0],
];
const TEACHER = [
  [3.0, -2.0, 1.0, 0.5],
  [0.2, 0.1, 2.5, -1.0],
  [-1.0, 0.3, 0.2, 1.5],
];
const LABELS = [0, 2, 3];

const softmax = (z: number[], t: number): number[] => {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp((v - m) / t));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};

/** The tutorial's loss in float64: alpha T^2 KL(p_t || p_s) + (1 - alpha) CE, means over rows. */
function reference(T: number, alpha: number): { loss: number; grad: number[][] } {
  const n = STUDENT.length;
  let kl = 0;
  let ce = 0;
  const grad = STUDENT.map((s, i) => {
    const pt = softmax(TEACHER[i] as number[], T);
    const ps = softmax(s, T);
    const p1 = softmax(s, 1);
    pt.forEach((p, k) => (kl += p * (Math.log(p) - Math.log(ps[k] as number))));
    ce -= Math.log(p1[LABELS[i] as number] as number);
    return s.map(
      (_, k) =>
        (alpha * T * ((ps[k] as number) - (pt[k] as number)) +
          (1 - alpha) * ((p1[k] as number) - (k === LABELS[i] ? 1 : 0))) /
        n,
    );
  });
  return { loss: (alpha * T * T * kl + (1 - alpha) * ce) / n, grad };
}

test('the distillation loss and its gradient are alpha T^2 KL(teacher || student at T) + (1 - alpha) cross-entropy', async () => {
  await mnistSlice(1, 1);
  const s = tf.tensor2d(STUDENT);
  const t = tf.tensor2d(TEACHER);
  const y = tf.tensor1d(LABELS, 'int32');
  for (const [T, alpha] of [
    [2, 0.25],
    [4, 0.9],
    [1, 0],
  ] as const) {
    const want = reference(T, alpha);
    const loss = distillationLoss(s, t, y, T, alpha);
    const got = loss.dataSync()[0] as number;
    loss.dispose();
    assert.ok(Math.abs(got - want.loss) < 1e-5, `T=${T} alpha=${alpha}: loss ${got}, expected ${want.loss}`);
    const g = tf.grad((z: tf.Tensor) => distillationLoss(z as tf.Tensor2D, t, y, T, alpha))(s);
    const rows = g.arraySync() as number[][];
    g.dispose();
    want.grad.forEach((row, i) =>
      row.forEach((v, k) =>
        assert.ok(
          Math.abs((rows[i]?.[k] as number) - v) < 1e-6,
          `T=${T} alpha=${alpha}: grad[${i}][${k}] ${rows[i]?.[k]}, expected ${v}`,
        ),
      ),
    );
  }
  tf.dispose([s, t, y]);
});

let teacher: tfl.LayersModel | undefined;

async function train(
  world: number,
  patch: SpecPatch['train'],
  withTeacher = true,
): Promise<{ weights: Float32Array[]; losses: number[]; features: readonly string[] }> {
  const data = await mnistSlice(12 * 32, 64);
  // Any fixed model is a teacher; a wider one, so its targets differ from the student's.
  teacher ??= buildMlp({ hidden: [64], activation: 'tanh' }, 784, 10, 999);
  const spec = specWith({
    data: { batchSize: 32 / world },
    train: { epochs: 1, distill: { teacher: withTeacher ? 'teacher/' : '', temperature: 3, alpha: 0.7 }, ...patch },
  });
  const losses: number[] = [];
  let features: readonly string[] = [];
  const ranks = await trainRanks({
    world,
    spec,
    data,
    teacher: withTeacher ? teacher : undefined,
    before: (rank, loop) => {
      if (rank === 0) features = loop.stepFeatures;
    },
    hooks: (rank) => ({
      onStepDetail: (s) => {
        if (rank === 0) losses.push(s.loss);
      },
    }),
  });
  for (const r of ranks) assert.equal(r.error, undefined, String(r.error));
  return { weights: ranks.map((r) => r.weights), losses, features };
}

test('with a teacher, 2 workers x batch 16 train like 1 worker x batch 32, step losses included', async () => {
  const single = await train(1, {});
  const pair = await train(2, {});
  const plain = await train(2, {}, false);
  assert.deepEqual(pair.features, ['distillation']);
  assert.deepEqual(plain.features, []);
  assert.deepEqual(pair.weights[0], pair.weights[1], 'the replicas differ');
  const rel = relativeDifference(single.weights[0]!, pair.weights[0]!);
  assert.ok(rel <= 1e-5, `2 workers are ${rel} away from 1 worker`);
  assert.equal(pair.losses.length, single.losses.length);
  single.losses.forEach((l, i) =>
    assert.ok(
      Math.abs(l - (pair.losses[i] as number)) <= 1e-5 * Math.abs(l),
      `step ${i + 1}: ${pair.losses[i]} on 2 workers, ${l} on 1`,
    ),
  );
  const applied = relativeDifference(plain.weights[0]!, pair.weights[0]!);
  assert.ok(applied > 1e-3, `the teacher left the weights within ${applied} of plain training`);
});

test('alpha 0 trains like no teacher at all: the soft term carries no weight', async () => {
  const zero = await train(2, { distill: { teacher: 'teacher/', temperature: 3, alpha: 0 } });
  const plain = await train(2, {}, false);
  const rel = relativeDifference(plain.weights[0]!, zero.weights[0]!);
  assert.ok(rel <= 1e-6, `alpha 0 is ${rel} away from plain cross-entropy`);
});

test('train.distill is checked: temperature above 0, alpha in [0, 1], classification only, not with class weights', () => {
  assert.deepEqual(
    validateJob({ train: { distill: { teacher: 'runs/big/model', temperature: 4, alpha: 0.5 } } }, 'job.yaml').train
      .distill,
    { teacher: 'runs/big/model', temperature: 4, alpha: 0.5 },
  );
  assert.match(
    configError(() => validateJob({ train: { distill: { teacher: 't', temperature: 0 } } }, 'job.yaml')),
    /train\.distill\.temperature must be a number > 0, got 0/,
  );
  assert.match(
    configError(() => validateJob({ train: { distill: { teacher: 't', alpha: 1.5 } } }, 'job.yaml')),
    /train\.distill\.alpha must be a number >= 0 and <= 1, got 1\.5/,
  );
  assert.match(
    configError(() => validateJob({ data: { task: 'regression' }, train: { distill: { teacher: 't' } } }, 'job.yaml')),
    /train\.distill learns the teacher's class probabilities, but data\.task is regression: remove train\.distill\.teacher/,
  );
  assert.match(
    configError(() => validateJob({ train: { balanceClasses: true, distill: { teacher: 't' } } }, 'job.yaml')),
    /train\.distill does not combine with class weights .*: keep one/,
  );
});
