/**
 * Hung processes under `launch` with restarts allowed: a SIGSTOPped worker is declared lost by
 * the coordinator, a SIGSTOPped coordinator by its workers; the launcher kills what was declared
 * lost and restarts it, and the job finishes.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { childPids, envOf, startCli, tempDir, waitFor } from './cli';
import { cmdline, finalVal, logEvents } from './fault-tools';

const JOB = [
  '--set',
  'cluster.maxRestarts=2',
  'cluster.leaseTimeoutSec=3',
  'train.epochs=30',
  'data.trainLimit=12000',
  'data.testLimit=1000',
];

async function stopAfterFirstEpoch(out: string, launcherPid: number, pick: (pid: number) => boolean): Promise<number> {
  await waitFor(
    'rank 0 to finish an epoch',
    () => (logEvents(path.join(out, 'logs', 'rank 0.log'), 'epoch').length > 0 ? true : undefined),
    90_000,
  );
  const victim = childPids(launcherPid).find(pick);
  assert.ok(victim !== undefined, 'no process to stop');
  process.kill(victim, 'SIGSTOP');
  return victim;
}

function killQuietly(pid: number | undefined): void {
  try {
    if (pid !== undefined) process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone: the launcher killed it, as it should.
  }
}

test('a SIGSTOPped worker is declared lost by the coordinator; the launcher kills and restarts it and the job finishes', async () => {
  const out = tempDir('hung-worker');
  const run = startCli(['launch', '--nproc', '2', ...JOB, '--out', out], { timeoutMs: 170_000 });
  let victim: number | undefined;
  try {
    victim = await stopAfterFirstEpoch(out, run.child.pid as number, (pid) => envOf(pid).RANK === '1');
    const r = await run.result;
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      new RegExp(
        `the coordinator declared rank 1 \\(pid ${victim}\\) lost: worker rank 1 .* sent no heartbeat for \\d+\\.\\d s.*; killing it so it can be restarted`,
      ),
    );
    assert.match(
      r.stdout,
      new RegExp(`rank 1 \\(pid ${victim}\\) was killed by SIGKILL; restarting it \\(restart 1 of 2\\)`),
    );
    assert.match(r.stdout, /epoch 30\/30/);
    assert.ok(finalVal(out) > 0.85, `accuracy ${finalVal(out)}`);
  } finally {
    killQuietly(victim);
  }
});

test('a SIGSTOPped coordinator is declared lost by its workers; the launcher kills and restarts it and the job finishes', async () => {
  const out = tempDir('hung-coordinator');
  const run = startCli(['launch', '--nproc', '2', ...JOB, '--out', out], { timeoutMs: 170_000 });
  let victim: number | undefined;
  try {
    victim = await stopAfterFirstEpoch(out, run.child.pid as number, (pid) => cmdline(pid).includes('coordinator'));
    const r = await run.result;
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      new RegExp(
        `rank \\d lost the coordinator \\(pid ${victim}\\): the coordinator at 127\\.0\\.0\\.1:\\d+ has not answered for \\d+\\.\\d s.*; killing it so it can be restarted`,
      ),
    );
    assert.match(r.stdout, new RegExp(`coordinator \\(pid ${victim}\\) was killed by SIGKILL; restarting it`));
    assert.match(r.stdout, /epoch 30\/30/);
    const coordLog = path.join(out, 'logs', 'coordinator.log');
    assert.equal(
      logEvents(coordLog, 'recovered').length,
      1,
      'the restarted coordinator picked the job up from its state file',
    );
    // The status page URL the launcher printed still works: the restarted coordinator took the same metrics port.
    const ports = logEvents(coordLog, 'listening').map((e) => e.metricsPort);
    assert.equal(ports.length, 2);
    assert.equal(ports[1], ports[0], `metrics ports ${ports.join(', ')}`);
    assert.match(r.stdout, new RegExp(`status page http://127\\.0\\.0\\.1:${String(ports[0])}/`));
  } finally {
    killQuietly(victim);
  }
});
