/**
 * A run directory on a full disk (a 2 MB tmpfs this test mounts, as root, and unmounts): the
 * failure names the file and the rank that could not write it, the launcher never crashes, and
 * no half-written checkpoint or temporary file stays behind. Skipped where tmpfs cannot be mounted.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { QUICK, runCli, tempDir } from './cli';

function mountTmpfs(dir: string, size: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Every temporary a writer may leave: checkpoint builds and atomic-write temporaries. */
function leftovers(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => /\.tmp-\d+|\.old-\d+/.test(f));
}

const canMount = process.getuid?.() === 0;

test(
  'a run whose disk fills up trains on without its checkpoints and records, then fails at the model naming rank 0 and the file; --resume on the full disk fails cleanly too',
  { skip: canMount ? false : 'needs root to mount a tmpfs' },
  async () => {
    const mnt = tempDir('disk-full');
    assert.ok(mountTmpfs(mnt, '2m'), 'mount tmpfs');
    try {
      const out = path.join(mnt, 'run');
      // A short collective timeout: rank 0 tries the model again for half of it before giving up.
      const r = await runCli(
        ['launch', '--nproc', '2', '--set', ...QUICK, 'train.epochs=8', 'cluster.collectiveTimeoutSec=6', '--out', out],
        { timeoutMs: 120_000 },
      );
      assert.equal(r.code, 1, r.stdout + r.stderr);
      const last = r.stdout.trim().split('\n').at(-1) ?? '';
      assert.match(
        last,
        new RegExp(
          `^ringtrain: error: the job failed: worker rank 0 \\(.*\\) failed: cannot write ${mnt}/run/\\S+: the disk is full \\(ENOSPC\\): free space there, or give the run another --out \\(or checkpoint\\.dir\\); stopped the other processes$`,
        ),
      );
      assert.doesNotMatch(r.stdout + r.stderr, /Unhandled|    at /);
      // The checkpoints and records that did not fit were skipped, and training went on to the end.
      assert.match(r.stdout, /rank 0: error: .* skipped: cannot write .*: the disk is full .*training goes on/);
      assert.match(r.stdout, /epoch 8\/8/);
      assert.match(last, /cannot write \S+\/model\//);
      assert.deepEqual(leftovers(out), [], 'temporaries left on the full disk');
      // What did get written is whole: no line cut short where the disk ran out.
      for (const f of fs.readdirSync(out).filter((n) => n.endsWith('.jsonl'))) {
        for (const line of fs.readFileSync(path.join(out, f), 'utf8').split('\n').filter(Boolean))
          assert.doesNotThrow(() => JSON.parse(line), `${f}: ${line}`);
      }

      const again = await runCli(
        ['launch', '--resume', out, '--nproc', '2', '--set', 'cluster.collectiveTimeoutSec=6'],
        { timeoutMs: 120_000 },
      );
      assert.notEqual(again.code, 0, again.stdout + again.stderr);
      assert.doesNotMatch(again.stdout + again.stderr, /Unhandled|    at /);
      assert.match(again.stdout + again.stderr, new RegExp(`cannot write ${mnt}/run/\\S+: the disk is full`));
      assert.deepEqual(leftovers(out), [], 'temporaries left after the resume');
    } finally {
      execFileSync('umount', [mnt]);
      fs.rmSync(mnt, { recursive: true, force: true });
    }
  },
);
