/**
 * A launcher that stops reading (SIGSTOP, a terminal paused with Ctrl-Z or Ctrl-S) must not
 * stop the job: its children write their logs without waiting for it.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { startCli, tempDir, waitFor } from './cli';
import { logEvents } from './fault-tools';

test('a launcher stopped for 12 s while its workers train: they go on training and logging, and the job finishes', async () => {
  const out = tempDir('launcher-pause');
  // Many short epochs, a few log lines each: through a pipe the stopped launcher would soon hold them up
  // (integration/launcher-log-files.test.ts shows that deterministically).
  const run = startCli(
    ['launch', '--nproc', '2', '--set', 'train.epochs=100', 'data.trainLimit=2000', 'data.testLimit=200', '--out', out],
    { timeoutMs: 170_000 },
  );
  const launcher = run.child.pid as number;
  const rank0 = path.join(out, 'logs', 'rank 0.log');
  await waitFor('rank 0 to finish an epoch', () => (logEvents(rank0, 'epoch').length > 0 ? true : undefined), 90_000);
  process.kill(launcher, 'SIGSTOP');
  let during = 0;
  try {
    const before = logEvents(rank0, 'epoch').length;
    await new Promise((r) => setTimeout(r, 12_000));
    during = logEvents(rank0, 'epoch').length - before;
  } finally {
    process.kill(launcher, 'SIGCONT');
  }
  const r = await run.result;
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.ok(during >= 2, `rank 0 finished ${during} epochs while the launcher was stopped`);
  assert.match(r.stdout, /epoch 100\/100/);
});
