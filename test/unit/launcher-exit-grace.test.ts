import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { EXIT_GRACE_MS, notExitedWithin } from '../../src/launcher/exit-grace';

interface Proc {
  name: string;
  proc: ChildProcess;
  exited: Promise<unknown>;
  done?: boolean;
}

function start(name: string, script: string): Proc {
  const proc = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
  const p: Proc = { name, proc, exited: new Promise((resolve) => proc.once('exit', resolve)) };
  void p.exited.then(() => {
    p.done = true;
  });
  return p;
}

test('after the job finished, processes that exit within the grace are waited for, and the one that hangs is named once the grace is over', async () => {
  assert.equal(EXIT_GRACE_MS, 30_000);
  const quick = start('rank 0', 'setTimeout(() => {}, 100)');
  const hung = start('rank 1', 'setInterval(() => {}, 1000)');
  try {
    const t0 = Date.now();
    const stuck = await notExitedWithin([quick, hung], 1500);
    const waited = Date.now() - t0;
    assert.deepEqual(
      stuck.map((p) => p.name),
      ['rank 1'],
    );
    assert.ok(waited >= 1400, `returned after ${waited} ms, before the grace`);
    assert.equal(quick.done, true);
    // With every process gone, it returns as soon as the last one exits, not at the grace's end.
    hung.proc.kill('SIGKILL');
    const t1 = Date.now();
    assert.deepEqual(await notExitedWithin([quick, hung], 60_000), []);
    assert.ok(Date.now() - t1 < 10_000, 'it waited for the grace although nothing was running');
  } finally {
    hung.proc.kill('SIGKILL');
    await hung.exited;
  }
});
