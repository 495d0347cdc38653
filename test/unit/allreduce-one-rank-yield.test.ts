import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Communicator, MemoryHub } from '../../src/allreduce';

test("a one-rank ring's all-reduces let the event loop run every few ms, not at every step", async () => {
  // A one-worker job awaits nothing else between steps: the ring's turns are what serve its
  // heartbeats and scrapes. A turn costs ~19 us, 5% of an MLP step, so not one per step either.
  const [transport] = new MemoryHub('job', 1, 5000).endpoints();
  const comm = new Communicator(transport as NonNullable<typeof transport>);
  let turns = 0;
  let counting = true;
  const count = (): void => {
    turns += 1;
    if (counting) setImmediate(count);
  };
  setImmediate(count);
  const buf = new Float32Array(1024);
  let steps = 0;
  const started = performance.now();
  // Each step keeps the thread busy for ~0.1 ms, as a (small) training step would.
  while (performance.now() - started < 200) {
    buf.fill(steps);
    const until = performance.now() + 0.1;
    while (performance.now() < until);
    await comm.allReduceMean(buf);
    steps += 1;
  }
  counting = false;
  const ms = performance.now() - started;
  assert.equal(buf[0], steps - 1, 'one rank: the mean is its own values');
  assert.ok(turns >= Math.floor(ms / 20), `${turns} event-loop turns in ${ms.toFixed(0)} ms: heartbeats would starve`);
  assert.ok(turns <= steps / 4, `${turns} event-loop turns in ${steps} steps: a turn at every step`);
});
