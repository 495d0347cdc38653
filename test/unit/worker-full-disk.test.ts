import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { RingtrainError } from '../../src/core/errors';
import { createLogger } from '../../src/observe/logger';
import { FullDiskGuard, retryWhileFull } from '../../src/worker/full-disk';
import { memoryDestination } from './support';

test('a failed write is skipped with one error line per 30 s naming the file; other errors still throw', () => {
  const mem = memoryDestination();
  const log = createLogger({ job: 'j', role: 'worker', destination: mem.stream });
  let now = 0;
  const guard = new FullDiskGuard(
    () => log,
    () => now,
  );
  const full = (): never => {
    throw new RingtrainError('WRITE_FAILED', 'cannot write /run/steps.jsonl: the disk is full (ENOSPC)');
  };
  assert.equal(guard.run('step records', full), undefined);
  now = 10_000;
  guard.run('step records', full);
  now = 31_000;
  guard.run('checkpoint of step 64', full);
  assert.equal(
    guard.run('ok', () => 7),
    7,
  );
  assert.equal(guard.skipped, 3);
  const lines = mem.lines().map((l) => l.msg);
  assert.deepEqual(lines, [
    'step records skipped: cannot write /run/steps.jsonl: the disk is full (ENOSPC); training goes on (the last checkpoint written stays the one to resume from)',
    'checkpoint of step 64 skipped: cannot write /run/steps.jsonl: the disk is full (ENOSPC); training goes on (the last checkpoint written stays the one to resume from)',
  ]);
  assert.throws(
    () =>
      guard.run('x', () => {
        throw new Error('a bug');
      }),
    /a bug/,
  );
});

test('the saved model is written again while the disk is full, within its budget, and then the error stands', async () => {
  const mem = memoryDestination();
  const log = createLogger({ job: 'j', role: 'worker', destination: mem.stream });
  let tries = 0;
  const flaky = async (): Promise<string> => {
    tries += 1;
    if (tries < 3)
      throw new RingtrainError('WRITE_FAILED', 'cannot write /run/model/weights.bin: the disk is full (ENOSPC)');
    return 'saved';
  };
  assert.equal(await retryWhileFull('saving the model', flaky, 10_000, log), 'saved');
  assert.equal(tries, 3);
  assert.equal(mem.lines().length, 1, 'one warning while it waits');
  const never = async (): Promise<string> => {
    throw new RingtrainError('WRITE_FAILED', 'cannot write /run/model/weights.bin: the disk is full (ENOSPC)');
  };
  await assert.rejects(
    retryWhileFull('saving the model', never, 1_500, log),
    /cannot write \/run\/model\/weights\.bin/,
  );
});
