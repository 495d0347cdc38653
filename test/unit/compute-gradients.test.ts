/**
 * The gradients src/compute/gradients-wasm.ts registers over tfjs's (Mean, Relu, Square) give tfjs's
 * bits: each is compared element for element (NaN, infinities and signed zeros included) with
 * tfjs-core 4.22's own formula, computed here with the same ops, on wasm with the native kernels
 * and on the cpu backend. Inputs are normal(0, 1) from a seeded PRNG (KERNEL_TEST_SEED repeats a run).
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers'; // registers the gradient functions tf.grad needs
import { selectBackend } from '../../src/compute';
import { kernelSet, setNativeKernels } from '../../src/native';
import { expectedNativeKernels, seededNormals } from './support';

const SEED = Number(process.env.KERNEL_TEST_SEED ?? Date.now() % 1_000_000);
const normals = (size: number, salt: number): Float32Array => seededNormals(SEED, size, salt);
const sizeOf = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);
const BACKENDS = ['wasm', 'cpu'] as const;

/** Selects `backend` (wasm with the native kernels, checked) and runs `f`, returning its values. */
async function valuesOn(backend: (typeof BACKENDS)[number], f: () => tf.Tensor): Promise<number[]> {
  await selectBackend(backend);
  setNativeKernels(true);
  if (backend === 'wasm') assert.equal(kernelSet().name, expectedNativeKernels(), `native kernels: ${kernelSet().why}`);
  const before = tf.memory().numTensors;
  const t = tf.tidy(f);
  const values = Array.from((await t.data()) as Float32Array);
  t.dispose();
  assert.equal(tf.memory().numTensors, before, `${backend}: tensors leaked`);
  return values;
}

const MEAN_GRAD_CASES: { name: string; shape: number[]; axis?: number[]; keepDims: boolean }[] = [
  { name: 'batch norm statistics: [N,H,W,C] over N,H,W', shape: [16, 14, 14, 16], axis: [0, 1, 2], keepDims: true },
  { name: 'two leading axes, keepDims false', shape: [40, 30, 8], axis: [0, 1], keepDims: false },
  { name: 'a middle axis', shape: [5, 7, 9], axis: [1], keepDims: false },
  { name: 'every axis', shape: [60, 70], keepDims: false },
];

for (const [i, c] of MEAN_GRAD_CASES.entries()) {
  test(`Mean's gradient has the bits of tfjs's formula: ${c.name}`, async () => {
    const x = normals(sizeOf(c.shape), 30 + 2 * i);
    const axes = c.axis ?? c.shape.map((_, k) => k);
    const kept = c.shape.map((d, k) => (axes.includes(k) ? 1 : d));
    const wShape = c.keepDims ? kept : c.shape.filter((_, k) => !axes.includes(k));
    const w = normals(sizeOf(wShape), 31 + 2 * i);
    for (const backend of BACKENDS) {
      const got = await valuesOn(backend, () =>
        tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.mean(t, c.axis, c.keepDims), tf.tensor(w, wShape))))(
          tf.tensor(x, c.shape),
        ),
      );
      // tfjs-core's Mean_grad.js: dy reshaped with the reduced axes kept, times ones, over the count.
      const count = axes.reduce((n, k) => n * (c.shape[k] as number), 1);
      const want = await valuesOn(backend, () =>
        tf.div(tf.mul(tf.reshape(tf.tensor(w, wShape), kept), tf.ones(c.shape)), count),
      );
      assert.deepEqual(got, want, `${backend}, ${c.name} (seed ${SEED})`);
      assert.ok(
        want.some((v) => v !== 0),
        'a non-trivial gradient',
      );
    }
  });
}

/** The ops whose gradient is one native pass on wasm, with tfjs-core's formula (Relu_grad.js, Square_grad.js). */
const ONE_PASS = [
  {
    op: 'relu',
    kernel: 'RingtrainReluGrad',
    f: (t: tf.Tensor): tf.Tensor => tf.relu(t),
    tfjs: (dy: tf.Tensor, x: tf.Tensor): tf.Tensor => tf.mul(dy, tf.cast(tf.step(x), 'float32')),
  },
  {
    op: 'square',
    kernel: 'RingtrainSquareGrad',
    f: (t: tf.Tensor): tf.Tensor => tf.square(t),
    tfjs: (dy: tf.Tensor, x: tf.Tensor): tf.Tensor => tf.mul(dy, tf.mul(tf.cast(x, 'float32'), 2)),
  },
];

for (const [i, c] of ONE_PASS.entries()) {
  test(`${c.op}'s gradient on wasm is one native pass with tfjs's bits, NaN, infinities and zeros included`, async () => {
    const shape = [16, 8, 8, 16];
    const x = normals(sizeOf(shape), 50 + 2 * i);
    const special = [NaN, 0, -0, Infinity, -Infinity, 1e-30, -1e-30, 3e38];
    special.forEach((v, k) => (x[k] = v));
    const dy = normals(sizeOf(shape), 51 + 2 * i);
    // dy infinite or zero where x is positive, negative or zero: inf * 0 is NaN, -2 * 0 is -0.
    [Infinity, -Infinity, 0, -2].forEach((v, k) => (dy[special.length + k] = v));
    [1, -1, 0, -1].forEach((v, k) => (x[special.length + k] = v));
    const grad = (): tf.Tensor =>
      tf.grad((t: tf.Tensor) => tf.sum(tf.mul(c.f(t), tf.tensor(dy, shape))))(tf.tensor(x, shape));
    const kernelsRun: string[] = [];
    for (const backend of BACKENDS) {
      await selectBackend(backend);
      const profile = await tf.profile(() => tf.tidy(grad));
      kernelsRun.push(...profile.kernelNames.map((k) => `${backend}:${k}`));
      const got = await valuesOn(backend, grad);
      const want = await valuesOn(backend, () => c.tfjs(tf.tensor(dy, shape), tf.tensor(x, shape)));
      assert.deepEqual(got, want, `${backend} (seed ${SEED})`);
      assert.ok(Number.isNaN(got[0]), 'NaN kept');
    }
    assert.ok(kernelsRun.includes(`wasm:${c.kernel}`), `the native pass ran on wasm: ${kernelsRun.join(' ')}`);
    assert.ok(!kernelsRun.includes(`cpu:${c.kernel}`), "the cpu backend keeps tfjs's gradient");
  });
}

test("ReLU's gradient keeps tfjs's own below the native kernels' size and without the addon", async () => {
  const small = [4, 5];
  const x = normals(20, 60);
  const dy = normals(20, 61);
  const grad = (): tf.Tensor =>
    tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.relu(t), tf.tensor(dy, small))))(tf.tensor(x, small));
  const want = x.map((v, k) => (v > 0 ? (dy[k] as number) : 0 * (dy[k] as number)));
  await selectBackend('wasm');
  const profile = await tf.profile(() => tf.tidy(grad));
  assert.ok(!profile.kernelNames.includes('RingtrainReluGrad'), 'a small tensor takes the stock kernels');
  assert.deepEqual(await valuesOn('wasm', grad), Array.from(want));
  setNativeKernels(false);
  try {
    const big = [16, 8, 8, 16];
    const bx = normals(sizeOf(big), 62);
    const off = await tf.profile(() =>
      tf.tidy(() => tf.grad((t: tf.Tensor) => tf.sum(tf.relu(t)))(tf.tensor(bx, big))),
    );
    assert.ok(!off.kernelNames.includes('RingtrainReluGrad'), 'without the addon tfjs computes it');
  } finally {
    setNativeKernels(true);
  }
});

test('a bias-free linear fused conv2d trains as conv2d on wasm: no input gradient nobody reads, the same filter gradient', async () => {
  const xs: [number, number, number, number] = [4, 10, 10, 3];
  const fs: [number, number, number, number] = [3, 3, 3, 8];
  const ys: [number, number, number, number] = [4, 10, 10, 8];
  const x = normals(sizeOf(xs), 70);
  const f = normals(sizeOf(fs), 71);
  const w = normals(sizeOf(ys), 72);
  const run = async (
    backend: (typeof BACKENDS)[number],
    bias: boolean,
  ): Promise<{ values: number[]; kernels: string[] }> => {
    const grad = (): tf.Tensor =>
      tf.grad((filter: tf.Tensor) => {
        const y = tf.fused.conv2d({
          x: tf.tensor(x, xs) as tf.Tensor4D,
          filter: filter as tf.Tensor4D,
          strides: 1,
          pad: 'same',
          bias: bias ? tf.zeros([8]) : undefined,
        });
        return tf.sum(tf.mul(y, tf.tensor(w, ys)));
      })(tf.tensor(f, fs));
    await selectBackend(backend);
    const profile = await tf.profile(() => tf.tidy(grad));
    return { values: await valuesOn(backend, grad), kernels: profile.kernelNames };
  };
  const wasm = await run('wasm', false);
  const cpu = await run('cpu', false);
  assert.ok(!wasm.kernels.includes('Conv2DBackpropInput'), `wasm: ${wasm.kernels.join(' ')}`);
  assert.ok(wasm.kernels.includes('Conv2D') && wasm.kernels.includes('Conv2DBackpropFilter'));
  assert.ok(cpu.kernels.includes('Conv2DBackpropInput'), "tfjs's fused gradient computes it (cpu backend)");
  wasm.values.forEach((v, i) => {
    const c = cpu.values[i] as number;
    assert.ok(Math.abs(v - c) <= 1e-4 * 400 + 1e-4 * Math.abs(c), `filter gradient ${i}: ${v} against cpu ${c}`);
  });
  const withBias = await run('wasm', true);
  assert.ok(withBias.kernels.includes('FusedConv2D'), `a bias keeps the fused op: ${withBias.kernels.join(' ')}`);
});
