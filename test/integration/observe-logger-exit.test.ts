/**
 * The default logger writes synchronously to stderr so that a worker which logs why it is
 * giving up and is then killed at once (the OOM killer, a SIGKILL from the launcher, a native
 * abort) still got that line out: pino's async mode flushes on a clean exit only. Checked in a
 * real child process, since the in-memory destination of the unit tests cannot show buffering.
 * The last line is an error, not a fatal: pino flushes after a fatal line even in async mode.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const OBSERVE = join(__dirname, '..', '..', 'src', 'observe');

test('lines logged just before a SIGKILL all reach stderr', () => {
  const lines = 2000;
  const script = `
    const { createLogger } = require(${JSON.stringify(OBSERVE)});
    const log = createLogger({ job: 'j', role: 'worker', rank: 5 }).child({ generation: 4 });
    for (let i = 0; i < ${lines}; i++) log.info({ i, pad: 'x'.repeat(200) }, 'filler');
    log.error('giving up');
    process.kill(process.pid, 'SIGKILL');
  `;
  const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  assert.equal(run.signal, 'SIGKILL', run.stderr.slice(-2000));
  assert.equal(run.stdout, '', 'logs must go to stderr, not stdout');
  const records = run.stderr
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(records.length, lines + 1);
  const last = records[records.length - 1];
  assert.deepEqual(
    [last.msg, last.level, last.job, last.role, last.rank, last.generation],
    ['giving up', 50, 'j', 'worker', 5, 4],
  );
});
