/**
 * The tfjs backend is global to the process, so these tests run in one file, in order: the
 * refusals first (they change nothing), then cpu, then auto (which must move off cpu), then
 * wasm by name. They assume the native packages are absent, as on the CI and dev images; where
 * they are installed (the GPU image) the tests that depend on their absence skip.
 */
import { test } from 'node:test';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import { isRingtrainError } from '../../src/core/errors';
import { selectBackend } from '../../src/compute';
import { expectedNativeKernels } from './support';

function installed(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}
const nativeInstalled = installed('@tensorflow/tfjs-node-gpu') || installed('@tensorflow/tfjs-node');
const skipIfNative = nativeInstalled ? 'a native tfjs package is installed here' : false;

/** [[1,2],[3,4]] x [[5,6],[7,8]] on the active backend; checks it leaked no tensor. */
async function matMulOnActiveBackend(): Promise<number[]> {
  const before = tf.memory().numTensors;
  const result = tf.tidy(() =>
    tf.matMul(
      tf.tensor2d([
        [1, 2],
        [3, 4],
      ]),
      tf.tensor2d([
        [5, 6],
        [7, 8],
      ]),
    ),
  );
  const values = Array.from(await result.data());
  result.dispose();
  assert.equal(tf.memory().numTensors, before, 'matMul leaked tensors');
  return values;
}

test(
  'asking for tensorflow-gpu by name fails with BACKEND_UNAVAILABLE and says to use wasm',
  { skip: skipIfNative },
  async () => {
    await assert.rejects(selectBackend('tensorflow-gpu'), (err: unknown) => {
      assert.ok(isRingtrainError(err));
      assert.equal(err.code, 'BACKEND_UNAVAILABLE');
      assert.match(err.message, /@tensorflow\/tfjs-node-gpu is not installed/);
      assert.match(err.message, /downloads libtensorflow/);
      assert.match(err.message, /backend: wasm/);
      return true;
    });
  },
);

test(
  'asking for tensorflow by name fails with BACKEND_UNAVAILABLE naming tfjs-node',
  { skip: skipIfNative },
  async () => {
    await assert.rejects(selectBackend('tensorflow'), (err: unknown) => {
      assert.ok(isRingtrainError(err));
      assert.equal(err.code, 'BACKEND_UNAVAILABLE');
      assert.match(err.message, /@tensorflow\/tfjs-node is not installed/);
      assert.match(err.message, /backend: wasm/);
      return true;
    });
  },
);

test('asking for cpu selects cpu and multiplies matrices correctly', async () => {
  const selected = await selectBackend('cpu');
  assert.deepEqual(selected, { name: 'cpu', tried: [], kernels: 'cpu' });
  assert.equal(tf.getBackend(), 'cpu');
  assert.deepEqual(await matMulOnActiveBackend(), [19, 22, 43, 50]);
});

test('auto skips the missing native packages and picks wasm', { skip: skipIfNative }, async () => {
  const heard: string[] = [];
  const selected = await selectBackend('auto', (msg) => heard.push(msg));
  assert.equal(selected.name, 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
  assert.deepEqual(
    selected.tried.map((t) => t.name),
    ['tensorflow-gpu', 'tensorflow'],
  );
  assert.match(selected.tried[0].error, /@tensorflow\/tfjs-node-gpu is not installed/);
  assert.match(selected.tried[1].error, /@tensorflow\/tfjs-node is not installed/);
  assert.equal(heard.length, 3);
  assert.match(heard[0], /^backend tensorflow-gpu skipped: /);
  // The choice and its reason, in one line a person reads.
  assert.equal(
    heard[2],
    'backend auto chose wasm: tensorflow-gpu and tensorflow are not installed (optional peer dependencies: npm install @tensorflow/tfjs-node or @tensorflow/tfjs-node-gpu to use them)',
  );
});

test('asking for wasm selects wasm and multiplies matrices correctly', async () => {
  await selectBackend('cpu');
  const selected = await selectBackend('wasm');
  // npm ci builds the native matrix product on this x86-64 machine; the wasm backend uses it.
  assert.deepEqual(selected, { name: 'wasm', tried: [], kernels: expectedNativeKernels() });
  assert.equal(tf.getBackend(), 'wasm');
  assert.deepEqual(await matMulOnActiveBackend(), [19, 22, 43, 50]);
});

test('with RINGTRAIN_NATIVE_KERNELS=off a wasm worker says it runs the wasm kernels, and why', () => {
  const out = execFileSync(
    process.execPath,
    [
      '-e',
      `
    const { selectBackend } = require(${JSON.stringify(path.resolve(__dirname, '../../src/compute'))});
    selectBackend('wasm').then((s) => console.log(JSON.stringify(s)));
  `,
    ],
    { env: { ...process.env, RINGTRAIN_NATIVE_KERNELS: 'off' }, encoding: 'utf8', timeout: 60_000 },
  );
  assert.deepEqual(JSON.parse(out), {
    name: 'wasm',
    tried: [],
    kernels: 'wasm',
    kernelsWhy: 'RINGTRAIN_NATIVE_KERNELS=off',
  });
});
