/**
 * The project's wasm kernels against the cpu backend (tfjs's reference implementation), on fresh
 * random inputs of many shapes: the configurations the built-in models use (3x3 'valid' convs,
 * 'same' convs, stride-2 and 1x1 projections, 2x2 pooling after ReLU) and unusual ones (odd
 * strides and sizes, explicit and numeric padding, filters larger than the input, NCHW).
 *
 * Inputs are normal(0, 1) from a PRNG seeded per run (the seed is in every failure message, set
 * KERNEL_TEST_SEED to repeat a run). Tolerance, stated once: every element satisfies
 *   |wasm - cpu| <= 1e-6 * K + 1e-5 * |cpu|
 * where K is the length of the sum behind that element (for float32 sums of K unit-scale
 * products the rounding error grows about like K * 2^-24 in the worst case).
 *
 * The matrix-product kernels (Conv2D, its gradients, BatchMatMul) have two paths, the native
 * product (native/gemm.cc, built by npm ci) and pure wasm; every case runs on both. The native
 * cases fail if the addon is not built (an install problem) and are skipped, with the reason,
 * only on a CPU without AVX2 + FMA.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers'; // registers the gradient functions tf.grad needs
import { selectBackend } from '../../src/compute';
import { simplifyTile } from '../../src/compute/kernel-tile-wasm';
import { isChannelVector } from '../../src/compute/kernel-elementwise-wasm';
import { kernelSet, setNativeKernels } from '../../src/native';
import { expectedNativeKernels, seededNormals } from './support';

const SEED = Number(process.env.KERNEL_TEST_SEED ?? Date.now() % 1_000_000);

const normals = (size: number, salt: number): Float32Array => seededNormals(SEED, size, salt);

const sizeOf = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

type Kernels = 'native' | 'wasm';
const KERNEL_SETS: Kernels[] = ['native', 'wasm'];

/** Test options for a case on `kernels`: skipped only where this CPU cannot run the native kernels. */
function on(kernels: Kernels): { skip?: string } {
  const why = kernelSet().why;
  return kernels === 'native' && why !== undefined && why.includes('AVX2') ? { skip: why } : {};
}

/** Runs `f` on each backend with the same inputs; returns both results as flat arrays. */
async function onBoth(
  f: () => tf.Tensor,
  kernels: Kernels = 'native',
): Promise<{ wasm: Float32Array; cpu: Float32Array; shape: number[] }> {
  const results: Record<string, { values: Float32Array; shape: number[] }> = {};
  for (const name of ['wasm', 'cpu'] as const) {
    await selectBackend(name);
    setNativeKernels(kernels === 'native');
    if (name === 'wasm' && kernels === 'native')
      assert.equal(kernelSet().name, expectedNativeKernels(), `the native kernels are not in use: ${kernelSet().why}`);
    const before = tf.memory().numTensors;
    let t: tf.Tensor;
    try {
      t = tf.tidy(f);
    } finally {
      setNativeKernels(true);
    }
    results[name] = { values: (await t.data()) as Float32Array, shape: t.shape };
    t.dispose();
    assert.equal(tf.memory().numTensors, before, `${name}: tensors leaked`);
  }
  const wasm = results.wasm!;
  const cpu = results.cpu!;
  assert.deepEqual(wasm.shape, cpu.shape, 'output shapes differ');
  return { wasm: wasm.values, cpu: cpu.values, shape: cpu.shape };
}

function assertClose(what: string, got: Float32Array, want: Float32Array, k: number): void {
  assert.equal(got.length, want.length, `${what}: length`);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs((got[i] as number) - (want[i] as number));
    const tol = 1e-6 * k + 1e-5 * Math.abs(want[i] as number);
    if (!(err <= tol) && (at < 0 || err - tol > worst)) {
      worst = err - tol;
      at = i;
    }
  }
  assert.ok(
    at < 0,
    `${what} (seed ${SEED}): element ${at} is ${got[at]} on wasm, ${want[at]} on cpu, beyond 1e-6*${k} + 1e-5*|cpu|`,
  );
  // Random data must give a non-trivial result, or the comparison proves nothing.
  assert.ok(
    want.some((v) => v !== 0),
    `${what}: the cpu result is all zeros`,
  );
}

type Pad = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;

interface ConvCase {
  name: string;
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: number | [number, number];
  pad: Pad;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  dataFormat?: 'NHWC' | 'NCHW';
}

const CONV_CASES: ConvCase[] = [
  { name: 'CNN conv1: 28x28x1 -> 32, 3x3 valid', x: [4, 28, 28, 1], filter: [3, 3, 1, 32], strides: 1, pad: 'valid' },
  {
    name: 'CNN conv2: 13x13x32 -> 64, 3x3 valid',
    x: [3, 13, 13, 32],
    filter: [3, 3, 32, 64],
    strides: 1,
    pad: 'valid',
  },
  { name: 'ResNet stem: 32x32x3 -> 16, 3x3 same', x: [2, 32, 32, 3], filter: [3, 3, 3, 16], strides: 1, pad: 'same' },
  { name: 'ResNet block: 3x3 same, 16 -> 16', x: [2, 14, 14, 16], filter: [3, 3, 16, 16], strides: 1, pad: 'same' },
  { name: 'ResNet downsample: 3x3 stride 2 same', x: [2, 16, 16, 16], filter: [3, 3, 16, 32], strides: 2, pad: 'same' },
  {
    name: 'ResNet projection: 1x1 stride 2 valid',
    x: [2, 16, 16, 16],
    filter: [1, 1, 16, 32],
    strides: 2,
    pad: 'valid',
  },
  { name: 'batch 1, one channel in and out', x: [1, 6, 6, 1], filter: [3, 3, 1, 1], strides: 1, pad: 'same' },
  {
    name: 'grey-image stem: 28x28x1 -> 16, 3x3 same',
    x: [3, 28, 28, 1],
    filter: [3, 3, 1, 16],
    strides: 1,
    pad: 'same',
  },
  { name: 'one input channel, stride 2, same', x: [2, 9, 8, 1], filter: [3, 3, 1, 4], strides: 2, pad: 'same' },
  {
    name: 'odd sizes, strides [2,3], rectangular filter, same',
    x: [2, 7, 9, 5],
    filter: [2, 4, 5, 3],
    strides: [2, 3],
    pad: 'same',
  },
  {
    name: 'stride 3 larger than a 2x2 filter, valid',
    x: [2, 10, 11, 3],
    filter: [2, 2, 3, 4],
    strides: 3,
    pad: 'valid',
  },
  {
    name: 'explicit asymmetric padding',
    x: [2, 8, 8, 4],
    filter: [3, 3, 4, 6],
    strides: 1,
    pad: [
      [0, 0],
      [2, 1],
      [0, 3],
      [0, 0],
    ],
  },
  {
    name: 'explicit padding wider than the filter, stride 2',
    x: [1, 6, 7, 2],
    filter: [3, 2, 2, 3],
    strides: 2,
    pad: [
      [0, 0],
      [4, 3],
      [1, 5],
      [0, 0],
    ],
  },
  {
    name: 'explicit padding wider than the filter, strides [2,3], 4 channels',
    x: [1, 6, 7, 4],
    filter: [3, 2, 4, 3],
    strides: [2, 3],
    pad: [
      [0, 0],
      [4, 3],
      [1, 5],
      [0, 0],
    ],
  },
  {
    name: 'numeric padding with ceil rounding, stride 2',
    x: [2, 9, 10, 3],
    filter: [3, 3, 3, 5],
    strides: 2,
    pad: 1,
    dimRoundingMode: 'ceil',
  },
  {
    name: 'numeric padding 0, stride 2, rows and columns past the last window',
    x: [1, 10, 9, 2],
    filter: [3, 3, 2, 3],
    strides: 2,
    pad: 0,
  },
  { name: '5x5 filter on a 3x3 input, same', x: [1, 3, 3, 2], filter: [5, 5, 2, 2], strides: 1, pad: 'same' },
  { name: 'NCHW data', x: [2, 3, 8, 7], filter: [3, 3, 3, 4], strides: [1, 2], pad: 'same', dataFormat: 'NCHW' },
  // Patch matrices of over 2^18 floats per sample: the native kernels take one sample at a time
  // (im2col.ts samplesPerChunk), and the filter gradient adds the samples' products up.
  {
    name: 'one sample per chunk of the patch matrix, 16 output channels (narrow product)',
    x: [3, 30, 30, 32],
    filter: [3, 3, 32, 16],
    strides: 1,
    pad: 'same',
  },
  {
    name: 'two samples per chunk, odd batch, stride 2',
    x: [5, 60, 60, 12],
    filter: [3, 3, 12, 24],
    strides: 2,
    pad: 'same',
  },
];

function convInfo(c: ConvCase): tf.backend_util.Conv2DInfo {
  const format = c.dataFormat === 'NCHW' ? 'channelsFirst' : 'channelsLast';
  return tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad, c.dimRoundingMode, false, format);
}

for (const [i, c] of CONV_CASES.entries()) {
  for (const kernels of KERNEL_SETS) {
    test(`Conv2D on wasm (${kernels}) matches cpu: ${c.name}`, on(kernels), async () => {
      const info = convInfo(c);
      const x = normals(sizeOf(c.x), 10 * i + 4);
      const w = normals(sizeOf(c.filter), 10 * i + 5);
      const attrs = {
        strides: c.strides,
        pad: c.pad,
        dataFormat: c.dataFormat ?? 'NHWC',
        dilations: 1,
        dimRoundingMode: c.dimRoundingMode,
      };
      const r = await onBoth(
        () =>
          tf
            .engine()
            .runKernel(
              'Conv2D',
              { x: tf.tensor(x, c.x), filter: tf.tensor(w, c.filter) },
              attrs as unknown as tf.NamedAttrMap,
            ) as tf.Tensor,
        kernels,
      );
      assert.deepEqual(r.shape, info.outShape);
      assertClose(c.name, r.wasm, r.cpu, info.filterHeight * info.filterWidth * info.inChannels);
    });
    if (c.dataFormat !== 'NCHW')
      test(`FusedConv2D on wasm (${kernels}) matches cpu: ${c.name}, with a bias`, on(kernels), async () => {
        const info = convInfo(c);
        const x = normals(sizeOf(c.x), 10 * i + 6);
        const w = normals(sizeOf(c.filter), 10 * i + 7);
        const bias = normals(c.filter[3], 10 * i + 8);
        const r = await onBoth(
          () =>
            tf.fused.conv2d({
              x: tf.tensor4d(x, c.x),
              filter: tf.tensor4d(w, c.filter),
              strides: c.strides,
              pad: c.pad,
              dimRoundingMode: c.dimRoundingMode,
              bias: tf.tensor1d(bias),
            }),
          kernels,
        );
        assert.deepEqual(r.shape, info.outShape);
        assertClose(c.name, r.wasm, r.cpu, info.filterHeight * info.filterWidth * info.inChannels + 1);
      });

    test(`Conv2DBackpropFilter on wasm (${kernels}) matches cpu: ${c.name}`, on(kernels), async () => {
      const info = convInfo(c);
      const x = normals(sizeOf(c.x), 10 * i);
      const dy = normals(sizeOf(info.outShape), 10 * i + 1);
      const attrs = {
        strides: c.strides,
        pad: c.pad,
        dataFormat: c.dataFormat ?? 'NHWC',
        dimRoundingMode: c.dimRoundingMode,
        filterShape: c.filter,
      };
      const r = await onBoth(() => {
        const inputs = { x: tf.tensor(x, c.x), dy: tf.tensor(dy, info.outShape) };
        return tf.engine().runKernel('Conv2DBackpropFilter', inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
      }, kernels);
      assert.deepEqual(r.shape, c.filter);
      assertClose(c.name, r.wasm, r.cpu, info.batchSize * info.outHeight * info.outWidth);
    });

    test(`Conv2DBackpropInput on wasm (${kernels}) matches cpu: ${c.name}`, on(kernels), async () => {
      const info = convInfo(c);
      const dy = normals(sizeOf(info.outShape), 10 * i + 2);
      const w = normals(sizeOf(c.filter), 10 * i + 3);
      const attrs = {
        strides: c.strides,
        pad: c.pad,
        dataFormat: c.dataFormat ?? 'NHWC',
        dimRoundingMode: c.dimRoundingMode,
        inputShape: c.x,
      };
      const r = await onBoth(() => {
        const inputs = { dy: tf.tensor(dy, info.outShape), filter: tf.tensor(w, c.filter) };
        return tf.engine().runKernel('Conv2DBackpropInput', inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
      }, kernels);
      assert.deepEqual(r.shape, c.x);
      assertClose(c.name, r.wasm, r.cpu, info.filterHeight * info.filterWidth * info.outChannels);
    });
  }
}

for (const kernels of KERNEL_SETS) {
  test(
    `gradients of a conv -> relu -> maxpool -> conv chain on wasm (${kernels}) match cpu (both filters and the input)`,
    on(kernels),
    async () => {
      const xs = normals(2 * 12 * 12 * 3, 900);
      const w1 = normals(3 * 3 * 3 * 8, 901);
      const w2 = normals(3 * 3 * 8 * 4, 902);
      const loss = (...[x, a, b]: tf.Tensor[]): tf.Scalar => {
        const h = tf.maxPool(tf.relu(tf.conv2d(x as tf.Tensor4D, a as tf.Tensor4D, 1, 'same')), 2, 2, 'valid');
        return tf.sum(tf.square(tf.conv2d(h, b as tf.Tensor4D, 2, 'valid')));
      };
      for (const [which, k] of [
        [0, 2 * 12 * 12],
        [1, 2 * 6 * 6],
        [2, 3 * 3 * 8],
      ] as const) {
        const r = await onBoth(() => {
          const grads = tf.grads(loss)([
            tf.tensor4d(xs, [2, 12, 12, 3]),
            tf.tensor4d(w1, [3, 3, 3, 8]),
            tf.tensor4d(w2, [3, 3, 8, 4]),
          ]);
          return grads[which] as tf.Tensor;
        }, kernels);
        // Gradients pass through two sums here, and squared outputs scale them up: loosen by 100x.
        assertClose(`gradient ${which}`, r.wasm, r.cpu, 100 * k);
      }
    },
  );
}

interface PoolCase {
  name: string;
  x: [number, number, number, number];
  filter: number | [number, number];
  strides: number | [number, number];
  pad: Pad;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  /** Apply ReLU to the input first: many all-zero windows, so the tie rule is exercised. */
  relu: boolean;
}

const POOL_CASES: PoolCase[] = [
  {
    name: 'CNN pool1: 26x26x32 after ReLU, 2x2 stride 2',
    x: [4, 26, 26, 32],
    filter: 2,
    strides: 2,
    pad: 'valid',
    relu: true,
  },
  {
    name: 'CNN pool2: 11x11x64 (odd) after ReLU, 2x2 stride 2',
    x: [3, 11, 11, 64],
    filter: 2,
    strides: 2,
    pad: 'valid',
    relu: true,
  },
  { name: '3x3 stride 2 same', x: [2, 7, 7, 3], filter: 3, strides: 2, pad: 'same', relu: false },
  { name: 'overlapping 3x3 stride 1 same after ReLU', x: [2, 8, 8, 4], filter: 3, strides: 1, pad: 'same', relu: true },
  {
    name: 'rectangular 2x3 filter, strides [1,2]',
    x: [1, 5, 6, 2],
    filter: [2, 3],
    strides: [1, 2],
    pad: 'valid',
    relu: false,
  },
  {
    name: 'numeric padding 1 with floor rounding',
    x: [2, 9, 9, 3],
    filter: 3,
    strides: 2,
    pad: 1,
    dimRoundingMode: 'floor',
    relu: false,
  },
  {
    name: '2x2 stride 2 same on an odd size (window past the edge)',
    x: [2, 7, 7, 8],
    filter: 2,
    strides: 2,
    pad: 'same',
    relu: true,
  },
];

for (const [i, c] of POOL_CASES.entries()) {
  test(`MaxPoolGrad on wasm matches cpu: ${c.name}`, async () => {
    const raw = normals(sizeOf(c.x), 500 + 10 * i);
    const x = c.relu ? raw.map((v) => Math.max(0, v)) : raw;
    const info = tf.backend_util.computePool2DInfo(c.x, c.filter, c.strides, 1, c.pad, c.dimRoundingMode);
    const dy = normals(sizeOf(info.outShape), 501 + 10 * i);
    const attrs = { filterSize: c.filter, strides: c.strides, pad: c.pad, dimRoundingMode: c.dimRoundingMode };
    const r = await onBoth(() => {
      const input = tf.tensor(x, c.x);
      const output = tf.engine().runKernel('MaxPool', { x: input }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
      return tf
        .engine()
        .runKernel(
          'MaxPoolGrad',
          { dy: tf.tensor(dy, info.outShape), input, output },
          attrs as unknown as tf.NamedAttrMap,
        ) as tf.Tensor;
    });
    assert.deepEqual(r.shape, c.x);
    // No arithmetic beyond adding the gradients of overlapping windows: exact up to ordering.
    assertClose(c.name, r.wasm, r.cpu, 1);
  });
}

test('MaxPoolGrad on wasm matches cpu where whole windows are -Infinity (no gradient passes)', async () => {
  const shape: [number, number, number, number] = [1, 4, 4, 8];
  const x = normals(sizeOf(shape), 600);
  // The top-left 2x2 window is -Infinity in every channel; one more window in channel 0 only.
  for (const [r, q] of [
    [0, 0],
    [0, 1],
    [1, 0],
    [1, 1],
  ])
    for (let ch = 0; ch < 8; ch++) x[(r * 4 + q) * 8 + ch] = -Infinity;
  for (const [r, q] of [
    [2, 2],
    [2, 3],
    [3, 2],
    [3, 3],
  ])
    x[(r * 4 + q) * 8] = -Infinity;
  const dy = normals(2 * 2 * 8, 601);
  const attrs = { filterSize: 2, strides: 2, pad: 'valid' };
  const r = await onBoth(() => {
    const input = tf.tensor(x, shape);
    const output = tf.engine().runKernel('MaxPool', { x: input }, attrs) as tf.Tensor;
    return tf.engine().runKernel('MaxPoolGrad', { dy: tf.tensor(dy, [1, 2, 2, 8]), input, output }, attrs) as tf.Tensor;
  });
  assertClose('-Infinity windows', r.wasm, r.cpu, 1);
  assert.equal(
    r.wasm.slice(0, 8).every((v) => v === 0),
    true,
  );
});

const SUM_CASES: { name: string; shape: number[]; axis: number | number[]; keepDims: boolean; dtype?: 'int32' }[] = [
  { name: 'conv bias gradient: [N,H,W,C] over N,H,W', shape: [16, 26, 26, 32], axis: [0, 1, 2], keepDims: false },
  { name: 'dense bias gradient: [N,C] over N', shape: [64, 128], axis: 0, keepDims: false },
  {
    name: 'leading axes given out of order, negative, keepDims',
    shape: [8, 12, 12, 16],
    axis: [-3, 0],
    keepDims: true,
  },
  { name: 'channels not a multiple of 4 (stock kernel)', shape: [8, 10, 10, 10], axis: [0, 1, 2], keepDims: false },
  { name: 'trailing axis (stock kernel)', shape: [64, 784], axis: 1, keepDims: false },
  { name: 'middle axes (stock kernel)', shape: [4, 9, 9, 8], axis: [1, 2], keepDims: true },
  { name: 'int32 (stock kernel)', shape: [64, 32], axis: 0, keepDims: false, dtype: 'int32' },
];

const MEAN_CASES: typeof SUM_CASES = [
  { name: 'batch norm statistics: [N,H,W,C] over N,H,W', shape: [64, 28, 28, 16], axis: [0, 1, 2], keepDims: true },
  { name: 'keepDims false, two leading axes', shape: [40, 30, 8], axis: [0, 1], keepDims: false },
  { name: 'trailing axis (stock kernel)', shape: [64, 784], axis: 1, keepDims: false },
];

for (const [i, c] of MEAN_CASES.entries()) {
  test(`Mean on wasm matches cpu: ${c.name}`, async () => {
    const r = await onBoth(() => tf.mean(tf.tensor(normals(sizeOf(c.shape), 860 + i), c.shape), c.axis, c.keepDims));
    // A mean's rounding error is its sum's divided by the count: the tolerance of a length-1 sum.
    assertClose(c.name, r.wasm, r.cpu, 1);
  });
}

for (const [i, c] of SUM_CASES.entries()) {
  test(`Sum on wasm matches cpu: ${c.name}`, async () => {
    const raw = normals(sizeOf(c.shape), 800 + i);
    const values = c.dtype === 'int32' ? Int32Array.from(raw, (v) => Math.round(10 * v)) : raw;
    const r = await onBoth(() => tf.cast(tf.sum(tf.tensor(values, c.shape, c.dtype), c.axis, c.keepDims), 'float32'));
    const axes = tf.util.parseAxisParam(c.axis, c.shape);
    assertClose(
      c.name,
      r.wasm,
      r.cpu,
      axes.reduce((n, a) => n * c.shape[a]!, 1),
    );
  });
}

const TILE_CASES: { name: string; shape: number[]; reps: number[]; dtype?: 'int32' | 'bool' }[] = [
  { name: "batch norm's gradient: [1,1,1,C] to an activation", shape: [1, 1, 1, 16], reps: [64, 28, 28, 1] },
  { name: 'every axis repeated', shape: [2, 3], reps: [2, 4] },
  { name: 'a middle axis of size 1 repeated', shape: [3, 1, 4], reps: [1, 5, 1] },
  { name: 'nothing repeated (a copy)', shape: [2, 3, 4, 5], reps: [1, 1, 1, 1] },
  { name: 'rank 1', shape: [5], reps: [3] },
  { name: 'rank 5, mixed', shape: [4, 1, 3, 1, 2], reps: [2, 3, 1, 4, 1] },
  { name: 'one element', shape: [1, 1], reps: [1, 1] },
  { name: 'int32', shape: [2, 2], reps: [3, 1], dtype: 'int32' },
  { name: 'bool (stock kernel)', shape: [2, 2], reps: [2, 2], dtype: 'bool' },
  { name: 'empty (stock kernel)', shape: [0, 3], reps: [2, 1] },
];

for (const [i, c] of TILE_CASES.entries()) {
  test(`Tile on wasm matches cpu exactly: ${c.name}`, async () => {
    const raw = normals(sizeOf(c.shape), 870 + i);
    const values =
      c.dtype === undefined ? raw : Int32Array.from(raw, (v) => (c.dtype === 'bool' ? +(v > 0) : Math.round(10 * v)));
    const r = await onBoth(() => tf.cast(tf.tile(tf.tensor(values, c.shape, c.dtype), c.reps), 'float32'));
    assert.deepEqual(
      r.shape,
      c.shape.map((s, k) => s * c.reps[k]!),
    );
    assert.deepEqual(Array.from(r.wasm), Array.from(r.cpu), `${c.name} (seed ${SEED})`);
  });
}

test('Tile on wasm: the plan merges unrepeated axes into the one before and drops size-1 axes', () => {
  assert.deepEqual(simplifyTile([1, 1, 1, 16], [64, 28, 28, 1]), { sizes: [1, 1, 16], reps: [64, 28, 28] });
  assert.deepEqual(simplifyTile([2, 3, 4], [2, 1, 1]), { sizes: [24], reps: [2] });
  assert.deepEqual(simplifyTile([1, 5, 1], [1, 1, 1]), { sizes: [5], reps: [1] });
  assert.deepEqual(simplifyTile([1, 1], [1, 1]), { sizes: [], reps: [] });
});

const BINARY_OPS = ['mul', 'add', 'sub', 'div'] as const;
const BINARY_CASES: { name: string; a: number[]; b: number[] }[] = [
  { name: 'one shape', a: [64, 8, 8, 16], b: [64, 8, 8, 16] },
  { name: 'activation and a [C] vector', a: [64, 8, 8, 16], b: [16] },
  { name: 'a [1,1,1,C] vector first', a: [1, 1, 1, 16], b: [64, 8, 8, 16] },
  { name: 'a [C] vector first, odd channels', a: [13], b: [40, 11, 13] },
  { name: 'rows of a matrix', a: [300, 20], b: [20] },
  { name: 'a scalar second', a: [64, 8, 8, 16], b: [] },
  { name: 'a scalar first', a: [], b: [64, 8, 8, 16] },
  { name: 'a [1,1] scalar and a matrix', a: [300, 20], b: [1, 1] },
  { name: 'a broadcast over a middle axis (stock kernel)', a: [64, 8, 8, 16], b: [8, 1, 16] },
  { name: 'small (stock kernel)', a: [4, 4], b: [4] },
];

for (const [i, c] of BINARY_CASES.entries()) {
  test(`Multiply, Add, Sub, RealDiv on wasm match cpu exactly: ${c.name}`, async () => {
    const a = normals(sizeOf(c.a), 880 + 2 * i);
    // Divisors away from zero, so a quotient is a number on both backends.
    const b = normals(sizeOf(c.b), 881 + 2 * i).map((v) => (Math.abs(v) < 0.1 ? 0.5 : v));
    for (const op of BINARY_OPS) {
      const r = await onBoth(() => tf[op](tf.tensor(a, c.a), tf.tensor(b, c.b)));
      assert.deepEqual(Array.from(r.wasm), Array.from(r.cpu), `${op}, ${c.name} (seed ${SEED})`);
    }
  });
}

test('the per-channel test: one value per entry of the last axis, and no axes the other lacks', () => {
  assert.equal(isChannelVector([16], [64, 8, 8, 16]), true);
  assert.equal(isChannelVector([1, 1, 1, 16], [64, 8, 8, 16]), true);
  assert.equal(isChannelVector([1, 1, 1, 1, 16], [64, 8, 8, 16]), false);
  assert.equal(isChannelVector([8, 16], [64, 8, 8, 16]), false);
  assert.equal(isChannelVector([15], [64, 8, 8, 16]), false);
  assert.equal(isChannelVector([], [64, 16]), false);
});

const BATCH_NORM_CASES: { name: string; x: number[]; vector: number[]; offset: boolean; scale: boolean }[] = [
  { name: 'ResNet activation, [C] vectors', x: [32, 14, 14, 16], vector: [16], offset: true, scale: true },
  { name: 'no offset, [1,1,1,C] vectors', x: [8, 10, 10, 32], vector: [1, 1, 1, 32], offset: false, scale: true },
  { name: 'no scale, a matrix', x: [500, 24], vector: [24], offset: true, scale: false },
  { name: 'small (stock kernel)', x: [2, 3, 3, 4], vector: [4], offset: true, scale: true },
];

for (const [i, c] of BATCH_NORM_CASES.entries()) {
  test(`FusedBatchNorm on wasm matches cpu: ${c.name}`, async () => {
    const v = (salt: number): Float32Array => normals(sizeOf(c.vector), 900 + 10 * i + salt);
    const x = normals(sizeOf(c.x), 900 + 10 * i);
    const variance = v(2).map((e) => e * e + 0.1);
    const r = await onBoth(() =>
      tf.batchNorm(
        tf.tensor(x, c.x),
        tf.tensor(v(1), c.vector),
        tf.tensor(variance, c.vector),
        c.offset ? tf.tensor(v(3), c.vector) : undefined,
        c.scale ? tf.tensor(v(4), c.vector) : undefined,
        1e-3,
      ),
    );
    // Four float32 roundings against the cpu backend's one.
    assertClose(c.name, r.wasm, r.cpu, 1);
  });
}

const BN_GRAD_CASES: { name: string; x: number[]; scale: boolean }[] = [
  { name: 'NHWC activation with a scale', x: [8, 10, 10, 16], scale: true },
  { name: '24 channels, odd sizes', x: [4, 9, 7, 24], scale: true },
  { name: 'rank 2 (tfjs runs it as [N,1,1,C])', x: [64, 16], scale: true },
];

/** Gradients of sum(batchNorm(...) * w) with respect to x, mean, variance, offset and scale. */
function batchNormGrads(c: (typeof BN_GRAD_CASES)[number], salt: number): () => tf.Tensor[] {
  const ch = c.x.at(-1)!;
  const v = (k: number): tf.Tensor => tf.tensor(normals(ch, salt + k), [ch]);
  const w = tf.tensor(normals(sizeOf(c.x), salt + 9), c.x);
  return () => {
    const all = [tf.tensor(normals(sizeOf(c.x), salt), c.x), v(1), tf.add(tf.abs(v(2)), 0.1), v(3), v(4)];
    const inputs = c.scale ? all : all.slice(0, 4);
    const f = (...t: tf.Tensor[]): tf.Tensor =>
      tf.sum(tf.mul(tf.batchNorm(t[0]!, t[1]!, t[2]!, t[3], c.scale ? t[4] : undefined, 1e-3), w));
    return tf.grads(f)(inputs);
  };
}

for (const [i, c] of BN_GRAD_CASES.entries()) {
  test(
    `batch norm's gradient on wasm: the addon's pass has tfjs's bits, and matches cpu: ${c.name}`,
    on('native'),
    async () => {
      const run = async (backend: 'wasm' | 'cpu', native: boolean): Promise<Float32Array[]> => {
        await selectBackend(backend);
        setNativeKernels(native);
        try {
          const grads = tf.tidy(batchNormGrads(c, 950 + 10 * i));
          const out = await Promise.all(grads.map(async (g) => (await g.data()) as Float32Array));
          tf.dispose(grads);
          return out;
        } finally {
          setNativeKernels(true);
        }
      };
      const [fused, tfjs, cpu] = [await run('wasm', true), await run('wasm', false), await run('cpu', false)];
      const names = ['x', 'mean', 'variance', 'offset', 'scale'];
      fused.forEach((g, k) => {
        assert.deepEqual(
          Array.from(g),
          Array.from(tfjs[k]!),
          `d${names[k]}: the native pass against tfjs's ops (seed ${SEED})`,
        );
        assertClose(`${c.name}, d${names[k]}`, g, cpu[k]!, k === 0 ? 1 : sizeOf(c.x) / c.x.at(-1)!);
      });
    },
  );
}

test('Identity and same-dtype Cast on wasm share data that outlives the original', async () => {
  await selectBackend('wasm');
  const before = tf.memory().numTensors;
  const x = tf.tensor(normals(1000, 850), [10, 100]);
  const want = x.dataSync().slice();
  const copies = [tf.clone(x), tf.cast(x, 'float32')];
  const asInt = tf.tidy(() => tf.cast(tf.tensor([1.7, -2.2, 3.9]), 'int32'));
  x.dispose();
  for (const t of copies) assert.deepEqual(t.dataSync(), want);
  assert.deepEqual(Array.from(asInt.dataSync()), [1, -2, 3]);
  tf.dispose([...copies, asInt]);
  assert.equal(tf.memory().numTensors, before);
});

const MATMUL_CASES: { name: string; a: number[]; b: number[]; transposeA: boolean; transposeB: boolean }[] = [
  { name: 'no transposes (Dense forward)', a: [1, 64, 784], b: [1, 784, 128], transposeA: false, transposeB: false },
  {
    name: 'transposeA (Dense weight gradient x^T dy)',
    a: [1, 64, 784],
    b: [1, 64, 128],
    transposeA: true,
    transposeB: false,
  },
  {
    name: 'transposeB (Dense input gradient dy W^T)',
    a: [1, 64, 128],
    b: [1, 784, 128],
    transposeA: false,
    transposeB: true,
  },
  { name: 'both transposed, batch 3', a: [3, 7, 5], b: [3, 9, 7], transposeA: true, transposeB: true },
  { name: 'transposeA with a broadcast batch', a: [1, 6, 4], b: [3, 6, 5], transposeA: true, transposeB: false },
  { name: 'transposeB, single row and column', a: [2, 1, 33], b: [2, 1, 33], transposeA: false, transposeB: true },
  // Past the native product's blocks: inner dimension > 256 (KC), rows > 96 (MC), columns > 4096 (NC).
  { name: 'long inner dimension, odd sizes', a: [1, 13, 600], b: [1, 600, 37], transposeA: false, transposeB: false },
  { name: 'many rows, transposeA', a: [2, 50, 200], b: [2, 50, 40], transposeA: true, transposeB: false },
  { name: 'very wide result, transposeB', a: [1, 3, 8], b: [1, 4100, 8], transposeA: false, transposeB: true },
  // At most 16 columns: the native product's narrow tile, rows read in place (gemm.cc).
  {
    name: '16 columns, rows past a multiple of 16, inner dimension past KC',
    a: [1, 50, 300],
    b: [1, 300, 16],
    transposeA: false,
    transposeB: false,
  },
  { name: '10 columns, batch 2', a: [2, 33, 20], b: [2, 20, 10], transposeA: false, transposeB: false },
  {
    name: 'batch dims broadcast both ways (stock path)',
    a: [2, 1, 3, 4],
    b: [1, 3, 4, 5],
    transposeA: false,
    transposeB: false,
  },
];

for (const [i, c] of MATMUL_CASES.entries()) {
  for (const kernels of KERNEL_SETS) {
    test(`BatchMatMul on wasm (${kernels}) matches cpu: ${c.name}`, on(kernels), async () => {
      const a = normals(sizeOf(c.a), 700 + 10 * i);
      const b = normals(sizeOf(c.b), 701 + 10 * i);
      const r = await onBoth(
        () =>
          tf
            .engine()
            .runKernel(
              'BatchMatMul',
              { a: tf.tensor(a, c.a), b: tf.tensor(b, c.b) },
              { transposeA: c.transposeA, transposeB: c.transposeB },
            ) as tf.Tensor,
        kernels,
      );
      const k = c.transposeA ? c.a.at(-2)! : c.a.at(-1)!;
      assertClose(c.name, r.wasm, r.cpu, k);
    });
  }
}

test('the wasm kernels leak no memory over 50 calls (tensor count and wasm heap stay flat)', async () => {
  await selectBackend('wasm');
  const x = tf.tensor4d(normals(8 * 13 * 13 * 32, 990), [8, 13, 13, 32]);
  const w = tf.tensor4d(normals(3 * 3 * 32 * 64, 991), [3, 3, 32, 64]);
  const step = (): void => {
    tf.tidy(() => {
      const g = tf.grads((...[a, b]: tf.Tensor[]) =>
        tf.sum(tf.maxPool(tf.relu(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'valid')), 2, 2, 'valid')),
      )([x, w]);
      g.forEach((t) => t.dataSync());
    });
  };
  step();
  const tensors = tf.memory().numTensors;
  const bytes = tf.memory().numBytes;
  for (let i = 0; i < 50; i++) step();
  assert.equal(tf.memory().numTensors, tensors);
  assert.equal(tf.memory().numBytes, bytes);
  tf.dispose([x, w]);
});
