/**
 * Run directories as a careless operator treats them: a copied run resumed (it must write into
 * the copy, not the original), and two launches into one --out (the second is refused).
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { QUICK, runCli, startCli, tempDir, waitFor } from './cli';
import { logEvents } from './fault-tools';

/** Every file under `dir` with its size, relative paths sorted. */
function listing(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[])
    .sort()
    .map((f) => `${f}:${fs.statSync(path.join(dir, f)).size}`);
}

test('launch --resume of a copied run directory writes into the copy, says which checkpoint it used, and leaves the original alone', async () => {
  const a = tempDir('rundir-a');
  const r1 = await runCli(['launch', '--nproc', '2', '--set', ...QUICK, 'train.epochs=1', '--out', a], {
    timeoutMs: 120_000,
  });
  assert.equal(r1.code, 0, r1.stdout + r1.stderr);
  const b = `${a}-copy`;
  fs.cpSync(a, b, { recursive: true, preserveTimestamps: true });
  const before = listing(a);
  try {
    const r2 = await runCli(['launch', '--resume', b, '--nproc', '2', '--set', 'train.epochs=2'], {
      timeoutMs: 120_000,
    });
    assert.equal(r2.code, 0, r2.stdout + r2.stderr);
    assert.match(
      r2.stdout,
      new RegExp(`rank 0: resumed from ${b}/checkpoints/ckpt-000000032: epoch 2, batch 0, step 32`),
    );
    assert.match(r2.stdout, new RegExp(`model in ${b}/model`));
    assert.deepEqual(listing(a), before, 'the original run directory changed');
    assert.deepEqual(fs.readdirSync(path.join(b, 'checkpoints')).sort(), ['ckpt-000000032', 'ckpt-000000064']);
    assert.equal(logEvents(path.join(b, 'logs', 'rank 0.log'), 'resumed').length, 1);
    const epochs = fs
      .readFileSync(path.join(b, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { epoch: number }).epoch);
    assert.deepEqual(epochs, [1, 1, 2, 2]);
  } finally {
    fs.rmSync(b, { recursive: true, force: true });
  }
});

test('a second launch into the --out of a running one is refused naming it; the first finishes with its own job', async () => {
  const out = tempDir('rundir-twice');
  const first = startCli(['launch', '--nproc', '2', '--set', ...QUICK, 'train.epochs=6', 'seed=1', '--out', out], {
    timeoutMs: 120_000,
  });
  await waitFor(
    'the first job to start training',
    () => (logEvents(path.join(out, 'logs', 'rank 0.log'), 'joined').length > 0 ? true : undefined),
    60_000,
  );
  const second = await runCli(['launch', '--nproc', '2', '--set', ...QUICK, 'train.epochs=1', 'seed=2', '--out', out], {
    timeoutMs: 60_000,
  });
  assert.equal(second.code, 2, second.stdout + second.stderr);
  assert.match(
    second.stderr,
    new RegExp(
      `run directory ${out} is in use by another launch \\(pid ${first.child.pid} on .*\\): give this run its own --out, or wait for that one to finish`,
    ),
  );
  const r = await first.result;
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /epoch 6\/6/);
  assert.equal(
    (JSON.parse(fs.readFileSync(path.join(out, 'job.json'), 'utf8')) as { seed: number }).seed,
    1,
    "job.json is the first job's",
  );
  assert.equal(fs.existsSync(path.join(out, '.ringtrain.lock')), false, 'the lock is gone with its launch');
});
