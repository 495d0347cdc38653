/**
 * Fine-tuning, pruning and distillation through the CLI on 2 workers over real gRPC: a second
 * run starts from the first one's saved model, freezes its first layer (bit for bit the first
 * run's after training), swaps in leakyRelu, learns from the first model as a teacher and
 * prunes its trainable kernels gradually, printing sparsity and accuracy before and after;
 * `export --prune` does the same in one shot; a model that does not fit is refused by name.
 */
import { after, test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { selectBackend } from '../../src/compute';
import { readSavedWeights } from '../../src/train';
import { QUICK, runCli, tempDir } from './cli';

let base: string | undefined;
const made: string[] = [];
const scratch = (prefix: string): string => {
  const d = tempDir(prefix);
  made.push(d);
  return d;
};
after(() => made.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

async function baseRun(): Promise<string> {
  if (base !== undefined) return base;
  const out = scratch('ft-base');
  const r = await runCli(['launch', '--nproc', '2', '--set', ...QUICK, 'train.epochs=1', '--out', out], {
    timeoutMs: 120_000,
  });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  base = out;
  return out;
}

test("a run from the first run's model with dense_0 frozen, a teacher and gradual pruning keeps dense_0 bit for bit and prints the pruning", async () => {
  const a = path.join(await baseRun(), 'model');
  const out = scratch('ft-tuned');
  const r = await runCli(
    [
      'launch',
      '--nproc',
      '2',
      '--set',
      ...QUICK,
      'train.epochs=2',
      `model.initFrom=${a}`,
      'model.freeze=[dense_0]',
      'model.activation=leakyRelu',
      `train.distill.teacher=${a}`,
      'train.prune.sparsity=0.5',
      'train.prune.startEpoch=2',
      '--out',
      out,
    ],
    { timeoutMs: 120_000 },
  );
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, new RegExp(`ringtrain: weights from ${a.replace(/[/.]/g, '\\$&')}: 4 loaded`));
  assert.match(r.stdout, /ringtrain: frozen \(not trained, not all-reduced\): dense_0 \(100,480 parameters\)/);
  assert.match(r.stdout, /ringtrain: distilling from .* \(temperature 2, alpha 0\.25\)/);
  assert.match(r.stdout, /epoch 1\/2 .*%\]  sparsity 0\.0%\n/);
  assert.match(r.stdout, /epoch 2\/2 .*%\]  sparsity 50\.0%\n/);
  const line =
    /ringtrain: pruning: 50\.0% of kernel weights are 0; val loss \d\.\d{4} acc (\d+\.\d\d)% before pruning \(after epoch 1\), val loss \d\.\d{4} acc (\d+\.\d\d)% after/.exec(
      r.stdout,
    );
  assert.ok(line, r.stdout);
  const metrics = fs
    .readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { epoch: number; split: string; accuracy: number });
  const val = (e: number): string =>
    (100 * (metrics.find((m) => m.split === 'val' && m.epoch === e) as { accuracy: number }).accuracy).toFixed(2);
  assert.equal(line[1], val(1), "the accuracy before pruning is not epoch 1's");
  assert.equal(line[2], val(2));
  await selectBackend('cpu');
  const before = readSavedWeights(a).weights;
  const after = readSavedWeights(path.join(out, 'model')).weights;
  for (const w of ['dense_0/kernel', 'dense_0/bias'])
    assert.deepEqual(after.get(w)?.values, before.get(w)?.values, `${w} moved`);
  const logits = after.get('logits/kernel')?.values as Float32Array;
  assert.equal(logits.filter((v) => v === 0).length, logits.length / 2);
  assert.notDeepEqual(after.get('logits/bias')?.values, before.get('logits/bias')?.values);
});

test('export --prune 0.5 prints the kernel sparsity and test accuracy before and after, and eval agrees', async () => {
  const a = path.join(await baseRun(), 'model');
  const out = path.join(scratch('ft-export'), 'pruned');
  const r = await runCli(['export', '--model', a, '--prune', '0.5', '--out', out], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /original +0\.0% +loss \d\.\d{4} acc \d+\.\d\d%/);
  const m = /pruned50 +50\.0% +loss \d\.\d{4} acc (\d+\.\d\d)%  \(-?\d+\.\d\d points\)/.exec(r.stdout);
  assert.ok(m, r.stdout);
  // The run's job file: the same 1000 test samples export evaluated.
  const ev = await runCli(['eval', '--model', out, path.join(a, '..', 'job.json'), '--json'], { timeoutMs: 60_000 });
  assert.equal((100 * (JSON.parse(ev.stdout) as { accuracy: number }).accuracy).toFixed(2), m[1]);
  const bad = await runCli(['export', '--model', a, '--prune', '1.5'], { timeoutMs: 60_000 });
  assert.notEqual(bad.code, 0);
  assert.match(
    bad.stderr,
    /--prune takes the share of each kernel's weights to set to 0, a number above 0 and below 1 \(e\.g\. --prune 0\.5\), got '1\.5'/,
  );
});

test('model.initFrom into a model of other widths fails at start, naming each weight and the initSkip fix', async () => {
  const a = path.join(await baseRun(), 'model');
  const r = await runCli(
    [
      'launch',
      '--nproc',
      '2',
      '--set',
      ...QUICK,
      'train.epochs=1',
      `model.initFrom=${a}`,
      'model.hidden=[64]',
      '--out',
      scratch('ft-bad'),
    ],
    { timeoutMs: 120_000 },
  );
  assert.notEqual(r.code, 0);
  const text = r.stdout + r.stderr;
  assert.match(text, /dense_0\/kernel is \[784,64\] here but \[784,128\] in /);
  assert.match(text, /logits\/kernel is \[64,10\] here but \[128,10\] in /);
  assert.match(text, /model\.initSkip/);
});
