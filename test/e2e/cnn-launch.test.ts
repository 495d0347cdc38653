import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../src/compute';
import { loadMnist, readRows } from '../../src/data';
import { loadModelFromDir } from '../../src/train';
import { QUICK, runCli, tempDir } from './cli';

test('ringtrain launch --nproc 2 trains the cnn over the ring: one epoch of 4000 samples is far above chance', async () => {
  const out = tempDir('cnn');
  const r = await runCli(
    ['launch', '--nproc', '2', '--set', 'model.kind=cnn', 'train.epochs=1', ...QUICK, '--out', out],
    { timeoutMs: 180_000 },
  );
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /conv_1 \(Conv2D\)\s+\[-1,11,11,64\]/);
  assert.match(r.stdout, /Trainable params: 225,034/);

  const lines = fs
    .readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const val = lines.find((l) => l.split === 'val');
  assert.ok(val !== undefined, 'no val record');
  // 31 global steps of 128 from random init; chance is 10%.
  assert.ok(typeof val.accuracy === 'number' && val.accuracy > 0.6, `val accuracy ${String(val.accuracy)}`);

  // The saved CNN takes the same flat 784-float rows as the MLP and reproduces the reported accuracy.
  await selectBackend('wasm');
  const model = await loadModelFromDir(path.join(out, 'model'));
  const { test: testSet } = loadMnist({ testLimit: 1000, trainLimit: 1 });
  const acc = tf.tidy(() => {
    const logits = model.predict(tf.tensor2d(readRows(testSet, 0, testSet.count), [testSet.count, 784])) as tf.Tensor2D;
    return tf
      .mean(tf.cast(tf.equal(tf.argMax(logits, 1), tf.tensor1d(testSet.labels, 'int32')), 'float32'))
      .dataSync()[0] as number;
  });
  model.dispose();
  assert.ok(Math.abs(acc - val.accuracy) < 1e-6, `saved model accuracy ${acc} vs reported ${val.accuracy}`);
});

test('a model written as a list of layers in the job file trains over the ring; a wrong list stops the launch before any process starts', async () => {
  const out = tempDir('layers');
  const job = path.resolve(__dirname, '../../../examples/mnist-layers.yaml');
  const r = await runCli(['launch', '--nproc', '2', job, '--set', 'train.epochs=1', ...QUICK, '--out', out], {
    timeoutMs: 180_000,
  });
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  // The summary shows the listed layers between the added input and output layers.
  assert.match(r.stdout, /conv2d_0 \(Conv2D\)\s+\[-1,26,26,16\]\s+160/);
  assert.match(r.stdout, /dense_3 \(Dense\)\s+\[-1,64\]\s+173120/);
  assert.match(r.stdout, /logits \(Dense\)\s+\[-1,10\]\s+650/);
  const lines = fs
    .readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const val = lines.find((l) => l.split === 'val');
  assert.ok(typeof val?.accuracy === 'number' && val.accuracy > 0.6, `val accuracy ${String(val?.accuracy)}`);

  const bad = tempDir('layers-bad');
  const wrong = await runCli(
    ['launch', '--nproc', '2', job, '--set', 'model.layers=[{type: dense}, {type: conv3d}]', '--out', bad],
    { timeoutMs: 60_000 },
  );
  assert.equal(wrong.code, 2, wrong.stdout + wrong.stderr);
  assert.match(wrong.stderr, /model\.layers\[0\] \(dense\) needs 'units'/);
  assert.match(wrong.stderr, /model\.layers\[1\]\.type must be one of dense, conv2d, .* got "conv3d"/);
  assert.ok(!fs.existsSync(path.join(bad, 'logs')), 'no worker should have started');
});
