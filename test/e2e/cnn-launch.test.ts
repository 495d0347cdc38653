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
  const r = await runCli(['launch', '--nproc', '2', '--set', 'model.kind=cnn', 'train.epochs=1', ...QUICK, '--out', out], { timeoutMs: 180_000 });
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /conv_1 \(Conv2D\)\s+\[-1,11,11,64\]/);
  assert.match(r.stdout, /Trainable params: 225,034/);

  const lines = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
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
    return tf.mean(tf.cast(tf.equal(tf.argMax(logits, 1), tf.tensor1d(testSet.labels, 'int32')), 'float32')).dataSync()[0] as number;
  });
  model.dispose();
  assert.ok(Math.abs(acc - val.accuracy) < 1e-6, `saved model accuracy ${acc} vs reported ${val.accuracy}`);
});
