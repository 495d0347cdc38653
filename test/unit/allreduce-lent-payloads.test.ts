import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { LentPayloads } from '../../src/allreduce/lent-payloads';
import { isRingtrainError } from '../../src/core/errors';

test('flush waits for every lent payload, and a release after forget() does not count against the next ring', async () => {
  const lent = new LentPayloads(1000, (r) => `rank ${r}`, 'read');
  await lent.flush(1); // nothing lent: at once
  const a = lent.lend(1);
  const b = lent.lend(1);
  let flushed = false;
  const f = lent.flush(1).then(() => (flushed = true));
  a();
  a(); // a second release of the same payload is ignored
  await new Promise((r) => setImmediate(r));
  assert.equal(flushed, false, 'one payload still out');
  b();
  await f;
  assert.equal(flushed, true);

  const old = lent.lend(2);
  lent.forget(); // its ring is gone: waiters and count start over
  const fresh = lent.lend(3);
  old(); // late release of the old ring's payload
  let second = false;
  const g = lent.flush(2).then(() => (second = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(second, false, "the new ring's payload is still out");
  fresh();
  await g;
});

test('a payload that never leaves fails flush at the deadline, naming the peer, the count and the generation', async () => {
  const lent = new LentPayloads(50, (r) => `rank ${r} at 127.0.0.1:9`, 'take');
  lent.lend(4);
  lent.lend(4);
  await assert.rejects(
    lent.flush(7),
    (e: unknown) =>
      isRingtrainError(e) &&
      e.code === 'TIMEOUT' &&
      e.message === 'rank 4 at 127.0.0.1:9 did not take 2 sent block(s) within 50 ms (generation 7): is it stopped?',
  );
});
