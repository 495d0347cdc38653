import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { WORKER_MALLOC, retainFreedMemory } from '../../src/native';
import { nativeMallocTuning } from '../../src/native/addon';

const NATIVE = path.resolve(__dirname, '../../src/native');

/**
 * Minor page faults of a child that allocates and drops 256-300 KiB buffers in bursts, as socket
 * reads and messages do, with the worker's malloc settings or glibc's defaults. Retained memory
 * faults in about the same ~3,700 pages however long the bursts go on; glibc's defaults fault
 * again and again, but how often varies a lot between runs (6,300 to 38,000 for 3,000 buffers
 * seen here, once failing a 2x margin under a loaded full test run), so the bursts are long and
 * the defaults get more than one run (below).
 */
function faults(mode: 'retain' | 'default'): number {
  const script = `
    const { retainFreedMemory } = require(${JSON.stringify(NATIVE)});
    const r = retainFreedMemory(${mode === 'default' ? "{ RINGTRAIN_MALLOC: 'default' }" : '{}'});
    const before = process.resourceUsage().minorPageFault;
    let keep = [];
    for (let i = 0; i < 9000; i++) {
      const b = Buffer.allocUnsafe(256 * 1024 + (i % 7) * 4096);
      b.fill(i & 255);
      keep.push(b);
      if (keep.length > 8) keep = [];
      if (i % 20 === 0) global.gc();
    }
    console.log(JSON.stringify({ applied: r.applied, faults: process.resourceUsage().minorPageFault - before }));`;
  const run = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 0, run.stderr);
  const out = JSON.parse(run.stdout.trim()) as { applied: boolean; faults: number };
  assert.equal(out.applied, mode === 'retain');
  return out.faults;
}

test('a worker keeps freed memory for reuse: bursts of buffers fault in far fewer pages than with glibc defaults', () => {
  assert.ok(
    nativeMallocTuning().retain !== undefined,
    `the native addon should be built with malloc tuning: ${nativeMallocTuning().why}`,
  );
  const kept = faults('retain');
  // glibc's dynamic mmap threshold now and then settles early in a run and keeps memory too, so
  // the defaults get up to three runs to show their usual behaviour; the most faults counts.
  const defaults: number[] = [];
  while (defaults.length < 3 && !(kept < Math.max(0, ...defaults) / 2)) defaults.push(faults('default'));
  assert.ok(
    kept < Math.max(...defaults) / 2,
    `page faults with memory kept ${kept}, with glibc defaults ${defaults.join(', ')}`,
  );
});

test('the environment decides first: RINGTRAIN_MALLOC=default or glibc MALLOC_*_ variables leave malloc alone, and the note says why', () => {
  assert.deepEqual(retainFreedMemory({ RINGTRAIN_MALLOC: 'default' }), {
    applied: false,
    note: "glibc's defaults (RINGTRAIN_MALLOC=default)",
  });
  assert.deepEqual(retainFreedMemory({ MALLOC_TOP_PAD_: '0', MALLOC_TRIM_THRESHOLD_: '131072' }), {
    applied: false,
    note: "as the environment's MALLOC_TRIM_THRESHOLD_, MALLOC_TOP_PAD_ set it",
  });
  assert.equal(WORKER_MALLOC.mmapThreshold, 32 * 2 ** 20);
});
