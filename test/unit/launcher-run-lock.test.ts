import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LOCK_FILE, lockRunDir } from '../../src/launcher/run-lock';

function runDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-lock-'));
}

test('a second lock on a run directory is refused naming the holder; after release it can be taken again', () => {
  const dir = runDir();
  try {
    const release = lockRunDir(dir);
    assert.throws(
      () => lockRunDir(dir),
      new RegExp(
        `run directory ${dir} is in use by another launch \\(pid ${process.pid} on ${os.hostname()}, since .*\\): give this run its own --out, or wait for that one to finish`,
      ),
    );
    release();
    assert.equal(fs.existsSync(path.join(dir, LOCK_FILE)), false, 'released');
    lockRunDir(dir)();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a lock left by a dead launcher, by a reused pid, or half-written is taken over', () => {
  const dir = runDir();
  const file = path.join(dir, LOCK_FILE);
  try {
    for (const stale of [
      JSON.stringify({ pid: 2 ** 22 + 12345, host: os.hostname(), start: '1', since: 'then' }),
      // This very process, but started at another time: the pid was reused.
      JSON.stringify({ pid: process.pid, host: os.hostname(), start: '1', since: 'then' }),
      '{"pid": 12',
    ]) {
      fs.writeFileSync(file, stale);
      const release = lockRunDir(dir);
      assert.equal((JSON.parse(fs.readFileSync(file, 'utf8')) as { pid: number }).pid, process.pid);
      release();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
