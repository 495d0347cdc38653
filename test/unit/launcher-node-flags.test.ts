import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { SINGLE_THREADED_GC, YOUNG_GENERATION, workerNodeFlags } from '../../src/launcher/worker-node-flags';

test("launched workers get --single-threaded-gc once, after the launcher's own flags, unless asked to keep the concurrent GC", () => {
  assert.deepEqual(workerNodeFlags([], {}), [SINGLE_THREADED_GC, YOUNG_GENERATION]);
  assert.deepEqual(workerNodeFlags(['--inspect=0'], {}), ['--inspect=0', SINGLE_THREADED_GC, YOUNG_GENERATION]);
  assert.deepEqual(workerNodeFlags([SINGLE_THREADED_GC], {}), [SINGLE_THREADED_GC, YOUNG_GENERATION]);
  assert.deepEqual(workerNodeFlags(['--max-old-space-size=4096'], { RINGTRAIN_WORKER_GC: 'concurrent' }), [
    '--max-old-space-size=4096',
    YOUNG_GENERATION,
  ]);
});

test('launched workers get a 32 MB young generation unless the launcher was given its own size', () => {
  assert.equal(YOUNG_GENERATION, '--max-semi-space-size=32');
  assert.deepEqual(workerNodeFlags(['--max-semi-space-size=8'], {}), ['--max-semi-space-size=8', SINGLE_THREADED_GC]);
  assert.deepEqual(workerNodeFlags(['--max-semi-space-size', '64'], { RINGTRAIN_WORKER_GC: 'concurrent' }), [
    '--max-semi-space-size',
    '64',
  ]);
});
