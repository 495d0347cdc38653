/**
 * Batch norm in training (tf.moments of x, then tf.batchNorm4d with them: tfjs-layers' path) takes
 * one gradient kernel on wasm with the addon (src/compute/batch-norm-train.ts). Its gradients of
 * x, scale and offset must have the bits of tfjs's op-by-op gradient (the same wasm backend with
 * the addon switched off, where tfjs's functions run unchanged) and be close to the cpu backend's.
 * Inputs are normal(0, 1) from a seeded PRNG (KERNEL_TEST_SEED repeats a run).
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { selectBackend } from '../../src/compute';
import { setNativeKernels } from '../../src/native';
import { seededNormals } from './support';

const SEED = Number(process.env.KERNEL_TEST_SEED ?? Date.now() % 1_000_000);
const normals = (size: number, salt: number): Float32Array => seededNormals(SEED, size, salt);
const sizeOf = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

type Run = 'native' | 'tfjs' | 'cpu';

/** `grads` on wasm with the addon (native), wasm without it (tfjs's own ops), or cpu; values and the kernels that ran. */
async function gradsOn(run: Run, grads: () => tf.Tensor[]): Promise<{ values: number[][]; kernels: string[] }> {
  await selectBackend(run === 'cpu' ? 'cpu' : 'wasm');
  setNativeKernels(run === 'native');
  try {
    const before = tf.memory().numTensors;
    let out: tf.Tensor[] = [];
    const profile = await tf.profile(() => {
      out = tf.tidy(grads);
    });
    const values = await Promise.all(out.map(async (t) => Array.from((await t.data()) as Float32Array)));
    tf.dispose(out);
    assert.equal(tf.memory().numTensors, before, `${run}: tensors leaked`);
    return { values, kernels: profile.kernelNames };
  } finally {
    setNativeKernels(true);
  }
}

function assertClose(what: string, got: number[], want: number[], k: number): void {
  got.forEach((g, i) => {
    const w = want[i] as number;
    assert.ok(Math.abs(g - w) <= 1e-5 * k + 1e-4 * Math.abs(w), `${what}[${i}]: ${g} against cpu ${w} (seed ${SEED})`);
  });
}

/** Checks native against tfjs bit for bit and against cpu closely; returns the native run's kernels. */
async function compare(name: string, grads: () => tf.Tensor[], rows: number): Promise<string[]> {
  const native = await gradsOn('native', grads);
  const tfjs = await gradsOn('tfjs', grads);
  const cpu = await gradsOn('cpu', grads);
  native.values.forEach((g, k) => {
    assert.deepEqual(g, tfjs.values[k], `${name}: gradient ${k} against tfjs's ops (seed ${SEED})`);
    assertClose(`${name}: gradient ${k}`, g, cpu.values[k] as number[], k === 0 ? 1 : rows);
  });
  assert.ok(!tfjs.kernels.includes('RingtrainBatchNormTrainGrad'), "without the addon tfjs's gradient runs");
  return native.kernels;
}

/** tfjs-layers' training path: batchNorm4d of x with the moments of `of` (x's own by default). */
function normalized(
  x: tf.Tensor,
  scale: tf.Tensor,
  offset: tf.Tensor,
  of: tf.Tensor = x,
): { y: tf.Tensor; mean: tf.Tensor } {
  const m = tf.moments(of, [0, 1, 2]);
  const y = tf.batchNorm4d(
    x as tf.Tensor4D,
    m.mean as tf.Tensor1D,
    m.variance as tf.Tensor1D,
    offset as tf.Tensor1D,
    scale as tf.Tensor1D,
    1e-3,
  );
  return { y, mean: m.mean };
}

const CASES: { name: string; shape: [number, number, number, number] }[] = [
  { name: 'an activation', shape: [8, 10, 10, 16] },
  { name: 'odd sizes, 24 channels', shape: [3, 7, 9, 24] },
];

for (const [i, c] of CASES.entries()) {
  test(`batch norm with its own moments: one gradient kernel with tfjs's bits: ${c.name}`, async () => {
    const ch = c.shape[3];
    const v = (salt: number): Float32Array => normals(ch, 200 + 10 * i + salt);
    const w = normals(sizeOf(c.shape), 209 + 10 * i);
    const grads = (): tf.Tensor[] => {
      const f = (x: tf.Tensor, scale: tf.Tensor, offset: tf.Tensor): tf.Tensor => {
        const { y } = normalized(x, scale, offset);
        return tf.sum(tf.mul(y, tf.tensor(w, c.shape)));
      };
      return tf.grads(f)([
        tf.tensor(normals(sizeOf(c.shape), 200 + 10 * i), c.shape),
        tf.tensor(v(1)),
        tf.tensor(v(2)),
      ]);
    };
    const kernels = await compare(c.name, grads, sizeOf(c.shape) / ch);
    assert.ok(kernels.includes('RingtrainBatchNormTrainGrad'), `the fused gradient ran: ${kernels.join(' ')}`);
    assert.ok(!kernels.includes('Square'.concat('Grad')) && !kernels.includes('Tile'), 'no op-by-op moments gradient');
  });
}

test("a tfjs-layers BatchNormalization layer in training: the fused gradient, tfjs's bits for x, gamma and beta", async () => {
  const shape: [number, number, number, number] = [6, 8, 8, 16];
  const w = normals(sizeOf(shape), 301);
  const grads = (): tf.Tensor[] => {
    const layer = tfl.layers.batchNormalization({ axis: -1 });
    const x = tf.tensor(normals(sizeOf(shape), 300), shape);
    layer.build(shape);
    // gamma, beta, moving mean, moving variance: the same seeded values on every backend.
    layer.setWeights([302, 303, 304, 305].map((salt) => tf.abs(tf.tensor(normals(16, salt)))));
    const f = (t: tf.Tensor): tf.Scalar =>
      tf.sum(tf.mul(layer.apply(t, { training: true }) as tf.Tensor, tf.tensor(w, shape))) as tf.Scalar;
    const { grads: byWeight } = tf.variableGrads(() => f(x));
    const dx = tf.grad(f)(x);
    // Keyed by variable name: '.../beta' and '.../gamma'.
    const names = Object.keys(byWeight).sort();
    assert.equal(names.length, 2, `beta and gamma: ${names.join(' ')}`);
    const out = [dx, ...names.map((n) => byWeight[n] as tf.Tensor)];
    for (const v of layer.weights) v.dispose();
    return out;
  };
  const kernels = await compare('layer', grads, sizeOf(shape) / 16);
  assert.ok(kernels.includes('RingtrainBatchNormTrainGrad'), `the fused gradient ran: ${kernels.join(' ')}`);
});

test("statistics that are not x's own moments, or used again in the loss, keep tfjs's path or stay correct", async () => {
  const shape: [number, number, number, number] = [4, 12, 12, 8];
  const x0 = normals(sizeOf(shape), 400);
  const other = normals(sizeOf(shape), 401);
  const scale = normals(8, 402);
  const offset = normals(8, 403);
  // dy a constant: the addon's forward batch norm is close to the stock kernel's, not bit for bit.
  const w = normals(sizeOf(shape), 404);
  // (a) the mean and variance of another tensor: tfjs's batchNorm4d, no fused kernel.
  const foreign = (): tf.Tensor[] =>
    tf.grads((x: tf.Tensor, s: tf.Tensor, b: tf.Tensor) => {
      const { y } = normalized(x, s, b, tf.tensor(other, shape));
      return tf.sum(tf.mul(y, tf.tensor(w, shape)));
    })([tf.tensor(x0, shape), tf.tensor(scale), tf.tensor(offset)]);
  const kernels = await compare('foreign statistics', foreign, sizeOf(shape) / 8);
  assert.ok(!kernels.includes('RingtrainBatchNormTrainGrad'), 'foreign statistics take tfjs path');
  // (b) the mean also in the loss: both paths add up; the fused one is close to cpu (not bit for bit).
  const reused = (): tf.Tensor[] =>
    tf.grads((x: tf.Tensor, s: tf.Tensor, b: tf.Tensor) => {
      const { y, mean } = normalized(x, s, b);
      return tf.add(tf.sum(tf.square(y)), tf.sum(tf.mul(mean, 3)));
    })([tf.tensor(x0, shape), tf.tensor(scale), tf.tensor(offset)]);
  const native = await gradsOn('native', reused);
  const cpu = await gradsOn('cpu', reused);
  assert.ok(native.kernels.includes('RingtrainBatchNormTrainGrad'));
  native.values.forEach((g, k) => assertClose(`reused mean, gradient ${k}`, g, cpu.values[k] as number[], 144));
});

test("tf.moments alone: the variance's one pass and its gradient have tfjs's bits (both moments in the loss)", async () => {
  const shape: [number, number, number, number] = [5, 10, 10, 12];
  const w1 = normals(12, 501);
  const w2 = normals(12, 502);
  const both = (): tf.Tensor[] => {
    const x = tf.tensor(normals(sizeOf(shape), 500), shape);
    const m = tf.moments(x, [0, 1, 2]);
    const dx = tf.grad((t: tf.Tensor) => {
      const n = tf.moments(t, [0, 1, 2]);
      return tf.add(tf.sum(tf.mul(n.mean, tf.tensor(w1))), tf.sum(tf.mul(n.variance, tf.tensor(w2))));
    })(x);
    return [m.mean, m.variance, dx];
  };
  const kernels = await compare('moments', both, sizeOf(shape) / 12);
  assert.ok(kernels.includes('RingtrainVariance') && !kernels.includes('Square'), `one pass: ${kernels.join(' ')}`);
});
