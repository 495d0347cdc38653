/**
 * Warnings that fire during training, at the epoch they belong to: exploding gradients judged on
 * the epoch's largest norm (not its calm last step), skipped steps counted, over-fitting at the
 * epoch it shows; each in the log as it happens and in that epoch's diagnostics.jsonl line, even
 * when no step of the epoch could be diagnosed. Regression epochs write MSE, MAE and R^2 to
 * TensorBoard instead of a NaN accuracy.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { eventFilesIn, readEventFile, scalarsByTag } from '../../src/observe/tensorboard-reader';
import { RunRecorder } from '../../src/record/run-recorder';
import { RUN_FILES, readRunFiles } from '../../src/record/run-files';
import { memoryDestination } from './support';
import { createLogger } from '../../src/observe/logger';

const SLOTS = [{ name: 'dense_0/kernel', offset: 0, size: 4 }];

function recorder(dir: string): { r: RunRecorder; lines: () => Record<string, unknown>[] } {
  const mem = memoryDestination();
  const log = createLogger({ job: 'warn', role: 'worker', rank: 0, destination: mem.stream });
  return { r: new RunRecorder({ dir, rank: 0, worldSize: 1, epochs: 5, log }), lines: mem.lines };
}

/** The epoch's last step, diagnosed with a calm gradient of norm `norm`. */
function diagnose(r: RunRecorder, epoch: number, step: number, norm: number): void {
  const before = new Float32Array([1, 1, 1, 1]);
  r.onDiagnostics({
    epoch,
    step,
    slots: SLOTS,
    grads: new Float32Array([norm, 0, 0, 0]),
    before,
    after: before.map((w) => w - 0.001),
  });
}

test('an epoch whose largest gradient norm explodes is warned at that epoch, though its last step was calm', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-warn-'));
  const { r, lines } = recorder(dir);
  const split = { loss: 1, accuracy: 0.5 };
  diagnose(r, 1, 10, 2);
  r.onEpoch({
    epoch: 1,
    step: 10,
    train: split,
    val: split,
    samplesPerSec: 1,
    gradNorm: { mean: 3, max: 9, first: 2.5 },
    skippedSteps: 0,
    stepsInEpoch: 10,
  });
  // The run: mean 2,214, last step 8.2; the largest step is what explodes.
  diagnose(r, 2, 20, 8.2);
  const warned = r.onEpoch({
    epoch: 2,
    step: 20,
    train: split,
    val: split,
    samplesPerSec: 1,
    gradNorm: { mean: 2214, max: 5000, first: 2.5 },
    skippedSteps: 0,
    stepsInEpoch: 10,
  });
  // Growth alone: 300 is under 1e3 but 120x the first step's 2.5.
  diagnose(r, 3, 30, 1);
  r.onEpoch({
    epoch: 3,
    step: 30,
    train: split,
    val: split,
    samplesPerSec: 1,
    gradNorm: { mean: 40, max: 300, first: 2.5 },
    skippedSteps: 0,
    stepsInEpoch: 10,
  });
  await r.close();
  assert.deepEqual(
    warned.map((w) => w.kind),
    ['exploding-gradient'],
  );
  const logged = lines().filter((l) => l.event === 'training-warning');
  assert.deepEqual(
    logged.map((l) => String(l.msg)),
    [
      "epoch 2's largest global gradient norm 5000 exceeds 1000: gradients are exploding; lower the learning rate or clip gradients (train.clipNorm)",
      "epoch 3's largest global gradient norm 300.0 is over 100x the first step's (2.500): gradients are exploding; lower the learning rate or clip gradients (train.clipNorm)",
    ],
  );
  const diag = readRunFiles(dir).diagnostics;
  assert.deepEqual(
    diag.map((d) => [d.epoch, d.step, d.maxGradNorm, d.meanGradNorm, d.warnings.map((w) => w.kind)]),
    [
      [1, 10, 9, 3, []],
      [2, 20, 5000, 2214, ['exploding-gradient']],
      [3, 30, 300, 40, ['exploding-gradient']],
    ],
  );
  assert.ok(Math.abs(diag[1]!.globalGradNorm - 8.2) < 1e-6, 'the diagnosed step keeps its own norm');
  const tb = scalarsByTag(readEventFile(eventFilesIn(path.join(dir, RUN_FILES.tensorboard, 'train'))[0]!).events);
  assert.deepEqual(
    tb.get('gradients/global_norm_max')?.map((p) => [p.step, p.value]),
    [
      [1, 9],
      [2, 5000],
      [3, 300],
    ],
  );
});

test('skipped steps are counted and warned at their epoch, with a diagnostics line when no step could be diagnosed', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-skip-'));
  const { r, lines } = recorder(dir);
  const split = { loss: 1, accuracy: 0.5 };
  diagnose(r, 1, 24, 1);
  r.onEpoch({
    epoch: 1,
    step: 24,
    train: split,
    val: split,
    samplesPerSec: 1,
    gradNorm: { mean: 1, max: 2, first: 1 },
    skippedSteps: 20,
    stepsInEpoch: 24,
  });
  // Every step of epoch 2 skipped: nothing diagnosed, norms NaN.
  r.onEpoch({
    epoch: 2,
    step: 48,
    train: { loss: NaN, accuracy: NaN },
    val: split,
    samplesPerSec: 1,
    gradNorm: { mean: NaN, max: NaN, first: 1 },
    skippedSteps: 24,
    stepsInEpoch: 24,
  });
  await r.close();
  const msgs = lines()
    .filter((l) => l.event === 'training-warning')
    .map((l) => String(l.msg));
  assert.deepEqual(msgs, [
    'epoch 1: 20 of 24 optimizer steps skipped because the loss or gradient was not finite (train.nonFinite skip); lower train.lr or set train.clipNorm',
    'epoch 2: 24 of 24 optimizer steps skipped because the loss or gradient was not finite (train.nonFinite skip); lower train.lr or set train.clipNorm',
  ]);
  const diag = readRunFiles(dir).diagnostics;
  assert.deepEqual(
    diag.map((d) => [d.epoch, d.skippedSteps, d.layers.length, d.warnings.map((w) => w.kind)]),
    [
      [1, 20, 1, ['skipped-steps']],
      [2, 24, 0, ['skipped-steps']],
    ],
  );
  assert.ok(Number.isNaN(diag[1]!.globalGradNorm));
});

test("over-fitting is warned at the epoch it appears and recorded in that epoch's diagnostics line", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-over-'));
  const { r, lines } = recorder(dir);
  const losses = [
    [1.0, 0.9],
    [0.8, 0.95],
    [0.6, 1.0],
    [0.5, 0.9],
  ];
  const firedAt: number[] = [];
  losses.forEach(([train, val], i) => {
    const w = r.onEpoch({
      epoch: i + 1,
      step: 10 * (i + 1),
      train: { loss: train!, accuracy: 0.5 },
      val: { loss: val!, accuracy: 0.5 },
      samplesPerSec: 1,
    });
    if (w.some((x) => x.kind === 'overfitting')) firedAt.push(i + 1);
  });
  await r.close();
  assert.deepEqual(firedAt, [3], 'val loss rose in epochs 2 and 3 while train loss fell; epoch 4 recovered');
  assert.equal(lines().filter((l) => l.kind === 'overfitting').length, 1);
  assert.deepEqual(
    readRunFiles(dir).diagnostics.map((d) => [d.epoch, d.warnings.map((w) => w.kind)]),
    [
      [1, []],
      [2, []],
      [3, ['overfitting']],
      [4, []],
    ],
  );
});

test('a regression epoch writes MSE, MAE and R^2 to TensorBoard and no accuracy', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-regtb-'));
  const r = new RunRecorder({ dir, rank: 0, worldSize: 1, epochs: 1 });
  r.onEpoch({
    epoch: 1,
    step: 5,
    train: { loss: 0.5, accuracy: NaN, mse: 0.5 },
    val: { loss: 0.25, accuracy: NaN, mse: 0.25, mae: 0.4, r2: 0.75 },
    samplesPerSec: 1,
  });
  await r.close();
  const read = (sub: string): Map<string, { step: number; value: number }[]> =>
    scalarsByTag(readEventFile(eventFilesIn(path.join(dir, RUN_FILES.tensorboard, sub))[0]!).events);
  const val = read('validation');
  assert.deepEqual([...val.keys()].sort(), ['epoch/loss', 'epoch/mae', 'epoch/mse', 'epoch/r2']);
  assert.deepEqual(
    val.get('epoch/r2')?.map((p) => p.value),
    [0.75],
  );
  assert.deepEqual(
    [...read('train').keys()].filter((k) => k.startsWith('epoch/') && !k.startsWith('epoch/seconds')).sort(),
    ['epoch/loss', 'epoch/mse', 'epoch/samples_per_sec'],
  );
});
