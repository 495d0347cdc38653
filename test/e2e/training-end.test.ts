/**
 * What the terminal and the report say while and after a job trains, through the real launcher:
 * early stopping says when it stopped and which epoch restoreBest put back, and the final line's
 * accuracy is the one `ringtrain eval` gives for the saved model; a diverging run warns at the
 * epoch its gradients explode and counts its skipped steps, in the terminal and the report, and
 * fails after train.maxSkippedSteps in a row; over-fitting is warned at the epoch it appears.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCli, tempDir } from './cli';

const SMALL = ['data.trainLimit=1000', 'data.testLimit=500', 'cluster.joinTimeoutSec=30'];

/** The launcher's lines, without the model summary. */
const linesOf = (stdout: string): string[] => stdout.split('\n').filter((l) => l.trim() !== '');

test("early stopping with restoreBest: the terminal names the stop and the restored epoch, and the final accuracy is eval's", async () => {
  const out = tempDir('early');
  // minDelta 10 on a loss near 1: only epoch 1 improves, so patience 2 stops after epoch 3 and restores epoch 1.
  const r = await runCli(
    [
      'launch',
      '--nproc',
      '2',
      '--set',
      ...SMALL,
      'train.epochs=6',
      'train.earlyStopping.patience=2',
      'train.earlyStopping.minDelta=10',
      'train.earlyStopping.restoreBest=true',
      '--out',
      out,
    ],
    { timeoutMs: 120_000 },
  );
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const lines = linesOf(r.stdout);
  assert.ok(
    lines.some((l) => /^ringtrain: early stopping after epoch 3: val loss did not improve for 2 epochs$/.test(l)),
    r.stdout,
  );
  assert.ok(
    lines.some((l) => /^ringtrain: restored the weights of epoch 1, the best by val loss \(\d+\.\d{4}\)$/.test(l)),
    r.stdout,
  );
  assert.ok(!lines.some((l) => l.startsWith('epoch 4/6')), 'no epoch after the stop');
  const final =
    /training finished in [\d.]+ s: test accuracy (\d+\.\d{2})% of the saved model \(weights of epoch 1, restored as the best\),/.exec(
      r.stdout,
    );
  assert.ok(final, r.stdout);
  // The old final line showed the last epoch's validation accuracy; here it differs from the saved model's.
  const epoch3 = /^epoch 3\/6 .* val loss \S+ acc (\d+\.\d{2})%/m.exec(r.stdout);
  assert.ok(epoch3, r.stdout);
  assert.notEqual(
    epoch3[1],
    final[1],
    'epoch 3 and epoch 1 should have different accuracy for this test to tell them apart',
  );
  const evaluated = await runCli(['eval', '--model', path.join(out, 'model'), '--json'], { timeoutMs: 60_000 });
  assert.equal(evaluated.code, 0, evaluated.stderr);
  const got = JSON.parse(evaluated.stdout) as { accuracy: number; samples: number };
  assert.equal(got.samples, 500);
  assert.equal((100 * got.accuracy).toFixed(2), final[1]);
  const evaluation = JSON.parse(fs.readFileSync(path.join(out, 'evaluation.json'), 'utf8')) as {
    accuracy: number;
    restoredEpoch: number;
    stoppedEarly: boolean;
    epochs: number;
  };
  assert.deepEqual(
    [evaluation.accuracy, evaluation.restoredEpoch, evaluation.stoppedEarly, evaluation.epochs],
    [got.accuracy, 1, true, 3],
  );
});

test('a diverging run warns at the epoch its gradients explode and counts skipped steps in the terminal and the report', async () => {
  const out = tempDir('diverge');
  const r = await runCli(
    [
      'launch',
      '--nproc',
      '2',
      '--set',
      ...SMALL,
      'train.epochs=2',
      'train.lr=1e6',
      'train.nonFinite=skip',
      'train.maxSkippedSteps=0',
      '--out',
      out,
    ],
    { timeoutMs: 120_000 },
  );
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const lines = linesOf(r.stdout);
  const epoch1 = lines.findIndex((l) => l.startsWith('epoch 1/2'));
  const exploding = lines.findIndex((l) =>
    /^rank 0: warning: epoch 1's largest global gradient norm \S+ exceeds 1000: gradients are exploding/.test(l),
  );
  const skipped =
    /^rank 0: warning: epoch 1: (\d+) of (\d+) optimizer steps skipped because the loss or gradient was not finite/.exec(
      lines.find((l) => l.includes('epoch 1: ') && l.includes('skipped because')) ?? '',
    );
  assert.ok(
    exploding >= 0 && exploding < epoch1,
    `the exploding warning must come with epoch 1, before its line:\n${r.stdout}`,
  );
  assert.ok(skipped, r.stdout);
  const metrics = fs
    .readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { split: string; skippedSteps?: number });
  const train = metrics.filter((m) => m.split === 'train');
  assert.equal(train[0]!.skippedSteps, Number(skipped[1]));
  const total = train.reduce((s, m) => s + (m.skippedSteps ?? 0), 0);
  assert.ok(total > Number(skipped[1]), 'epoch 2 skipped steps too');
  const diagnostics = fs
    .readFileSync(path.join(out, 'diagnostics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { epoch: number; warnings: { kind: string }[] });
  assert.deepEqual(
    diagnostics.map((d) => d.epoch),
    [1, 2],
  );
  assert.ok(diagnostics[0]!.warnings.some((w) => w.kind === 'exploding-gradient'));
  const report = await runCli(['report', out], { timeoutMs: 60_000 });
  assert.equal(report.code, 0, report.stderr);
  const html = fs.readFileSync(path.join(out, 'report', 'index.html'), 'utf8');
  assert.match(html, new RegExp(`steps skipped \\(loss or gradient not finite\\)</th><td>${total}</td>`));
  assert.match(html, /<b>skipped-steps<\/b>: epoch 1: \d+ of \d+ optimizer steps skipped/);
  assert.match(html, /<b>exploding-gradient<\/b>: epoch 1&#39;s largest global gradient norm/);
  assert.doesNotMatch(html, /Warnings<\/h2>\s*<p>None/);
  assert.match(
    html,
    /<td>2<\/td><td>-<\/td><td>-<\/td><td>-<\/td><td>[\d.]+%<\/td><td>\d+<\/td><td>-<\/td>/,
    'epoch 2 trained nothing: no loss, no norm',
  );
});

test('with the default train.maxSkippedSteps a run that keeps producing NaN fails, naming the limit', async () => {
  const out = tempDir('skiplimit');
  const r = await runCli(
    [
      'launch',
      '--nproc',
      '2',
      '--set',
      ...SMALL,
      'train.epochs=2',
      'train.lr=1e6',
      'train.nonFinite=skip',
      '--out',
      out,
    ],
    { timeoutMs: 120_000 },
  );
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(
    r.stdout,
    /ringtrain: error: .*: 5 steps in a row skipped \(train\.maxSkippedSteps 5; \d+ skipped in all\): training has diverged\. Lower train\.lr/,
  );
});

test('over-fitting is warned in the terminal at the epoch it appears', async () => {
  const out = tempDir('overfit');
  // 300 samples, a wide layer and Adam: training loss keeps falling while validation turns up.
  const r = await runCli(
    [
      'launch',
      '--nproc',
      '2',
      '--set',
      'data.trainLimit=300',
      'data.testLimit=500',
      'train.epochs=10',
      'train.optimizer=adam',
      'train.lr=0.003',
      'model.hidden=[256]',
      '--out',
      out,
    ],
    { timeoutMs: 120_000 },
  );
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const lines = linesOf(r.stdout);
  const at = lines.findIndex((l) =>
    /^rank 0: warning: over-fitting: from epoch \d+ to \d+ validation loss rose/.test(l),
  );
  assert.ok(at >= 0, r.stdout);
  const epoch = Number(/to (\d+) validation/.exec(lines[at]!)![1]);
  // Shown with that epoch: the next line is the epoch's own summary.
  assert.match(lines[at + 1]!, new RegExp(`^epoch ${String(epoch).padStart(2)}/10 `));
});
