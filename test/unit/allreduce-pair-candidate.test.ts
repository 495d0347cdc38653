import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Communicator, MemoryHub } from '../../src/allreduce';

test('a two-rank ring asks its transport whether it may share a file once, not at every all-reduce', async () => {
  // The answer reads the host's interfaces (~0.1 ms); a two-host pair used to ask every step.
  const asked = [0, 0];
  const comms = new MemoryHub('job', 2, 5000).endpoints().map((t, rank) => {
    const pairCandidate = (): boolean => {
      asked[rank] = (asked[rank] as number) + 1;
      return false;
    };
    return new Communicator(Object.assign(t, { pairCandidate }));
  });
  for (let i = 0; i < 20; i++) {
    const sums = comms.map((c, rank) => {
      const buf = new Float32Array(8).fill(rank + 1);
      return c.allReduceMean(buf).then(() => buf[0]);
    });
    assert.deepEqual(await Promise.all(sums), [1.5, 1.5]);
    for (const c of comms) c.canOverlap();
  }
  assert.deepEqual(asked, [1, 1]);
});
