import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { childPids, envOf, isAlive, startCli, tempDir, waitFor } from './cli';

test('a peer stopped with SIGSTOP fails the job within the configured timeout, naming the stopped rank', async () => {
  const out = tempDir('sigstop');
  const run = startCli(
    [
      'launch',
      '--nproc',
      '3',
      '--set',
      'train.epochs=50',
      'data.trainLimit=6000',
      'data.testLimit=500',
      'cluster.leaseTimeoutSec=3',
      'cluster.collectiveTimeoutSec=6',
      '--out',
      out,
    ],
    { timeoutMs: 120_000 },
  );
  const launcherPid = run.child.pid as number;
  const log = path.join(out, 'logs', 'rank 1.log');
  await waitFor(
    'rank 1 to train',
    () => (fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('"event":"joined"') ? true : undefined),
    60_000,
  );
  await new Promise((r) => setTimeout(r, 1000));
  const children = childPids(launcherPid);
  const rank1 = children.find((pid) => envOf(pid).RANK === '1');
  assert.ok(rank1 !== undefined, 'rank 1 not found');
  const stoppedAt = Date.now();
  process.kill(rank1, 'SIGSTOP');
  try {
    const r = await run.result;
    const took = Date.now() - stoppedAt;
    assert.equal(r.code, 1, r.stdout + r.stderr);
    // Lease 3 s + collective 6 s + the launcher's stop grace (3 s) bound the whole thing.
    assert.ok(took < 20_000, `took ${took} ms to give up`);
    assert.match(r.stdout, /worker rank 1 \(.*\) sent no heartbeat for \d+\.\d s|rank 1 at 127\.0\.0\.1:\d+/);
    for (const pid of children) assert.equal(isAlive(pid), false, `process ${pid} outlived the launcher`);
  } finally {
    try {
      process.kill(rank1, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
});
