/**
 * Resume through the real CLI: a run writes its epoch checkpoint; a writer killed in the middle
 * of the next checkpoint leaves a half-written one behind; `launch --resume` must pick the
 * previous, complete checkpoint and finish exactly like a run that was never interrupted.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { QUICK, runCli, tempDir } from './cli';
import { relativeDifference } from '../unit/support';

function weightsOf(runDir: string): Float32Array {
  const b = fs.readFileSync(path.join(runDir, 'model', 'weights.bin'));
  const out = new Float32Array(b.length / 4);
  new Uint8Array(out.buffer).set(b);
  return out;
}

/** Starts writing a checkpoint of step 999 into `root` and SIGKILLs itself halfway through. */
async function crashWhileWriting(root: string): Promise<NodeJS.Signals | null> {
  const store = path.resolve(__dirname, '../../src/worker/checkpoint-store.js');
  const code = `
    const { writeCheckpoint } = require(${JSON.stringify(store)});
    const a = new Float32Array(300000).fill(1);
    writeCheckpoint(${JSON.stringify(root)}, { step: 999, meta: {}, arrays: new Map([['params', a]]) }, {
      keep: 3,
      onProgress: (written, total) => { if (written >= total / 2) process.kill(process.pid, 'SIGKILL'); },
    });`;
  const child = spawn(process.execPath, ['-e', code], { stdio: 'ignore' });
  return new Promise((resolve) => child.on('close', (_c, signal) => resolve(signal)));
}

test('launch --resume after a crash mid-checkpoint continues from the previous checkpoint and matches an uninterrupted run', async () => {
  const sets = ['--set', ...QUICK, 'train.optimizer=adam', 'train.lr=0.002'];
  const first = tempDir('resume-a');
  const r1 = await runCli(['launch', '--nproc', '2', ...sets, 'train.epochs=1', '--out', first], {
    timeoutMs: 120_000,
  });
  assert.equal(r1.code, 0, r1.stdout + r1.stderr);
  const ckpts = path.join(first, 'checkpoints');
  assert.deepEqual(fs.readdirSync(ckpts), ['ckpt-000000032'], '4000 samples / (2 x 64) = 32 steps');

  assert.equal(await crashWhileWriting(ckpts), 'SIGKILL');
  assert.ok(
    fs.readdirSync(ckpts).some((n) => n.startsWith('.ckpt-000000999.tmp-')),
    'the killed writer left its partial checkpoint',
  );

  // Resume the run in place: its job.json and directory are reused; train one epoch more.
  const r2 = await runCli(['launch', '--resume', first, '--nproc', '2', '--set', 'train.epochs=2'], {
    timeoutMs: 120_000,
  });
  assert.equal(r2.code, 0, r2.stdout + r2.stderr);
  assert.match(r2.stdout, /epoch 2\/2 {2}train loss/);
  assert.doesNotMatch(r2.stdout, /epoch 1\/2/);
  const rank0 = fs.readFileSync(path.join(first, 'logs', 'rank 0.log'), 'utf8');
  assert.match(rank0, /"event":"resumed","dir":"[^"]*ckpt-000000032","epoch":1,"batchInEpoch":0,"step":32/);
  assert.deepEqual(
    fs.readdirSync(ckpts).sort(),
    ['ckpt-000000032', 'ckpt-000000064'],
    'the partial checkpoint was swept',
  );
  const lines = fs
    .readFileSync(path.join(first, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { epoch: number; split: string; loss: number });
  assert.deepEqual(
    lines.map((l) => [l.epoch, l.split]),
    [
      [1, 'train'],
      [1, 'val'],
      [2, 'train'],
      [2, 'val'],
    ],
  );

  const straight = tempDir('resume-b');
  const r3 = await runCli(['launch', '--nproc', '2', ...sets, 'train.epochs=2', '--out', straight], {
    timeoutMs: 120_000,
  });
  assert.equal(r3.code, 0, r3.stdout + r3.stderr);
  const rel = relativeDifference(weightsOf(straight), weightsOf(first));
  assert.ok(rel <= 1e-5, `resumed model differs from the uninterrupted one: relative difference ${rel}`);
  const straightLines = fs
    .readFileSync(path.join(straight, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { loss: number });
  assert.equal(lines[3]!.loss, straightLines[3]!.loss, 'epoch 2 validation loss');
});

test('launch --resume with a path that does not exist is a usage error', async () => {
  const r = await runCli(['launch', '--resume', '/nonexistent/run', '--nproc', '1'], { timeoutMs: 30_000 });
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /--resume \/nonexistent\/run: no such directory; give a run directory, its checkpoints\/ folder or one ckpt-\* directory/,
  );
});
