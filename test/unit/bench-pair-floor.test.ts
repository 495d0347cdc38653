import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { bestPairScaling, pairFloorMs } from '../../bench/pair-floor';

test('pairFloorMs times a read of what the other thread wrote, and checks the values it read', async () => {
  const ms = await pairFloorMs(25_000, 60);
  assert.ok(Number.isFinite(ms) && ms > 0, `floor ${ms} ms`);
  // 100 KB from another core's cache: well under the 30 s deadline, and not free.
  assert.ok(ms < 50, `floor ${ms} ms`);
});

test('bestPairScaling adds the floor to a step at the ceiling', () => {
  // 0.337 ms alone, 95% when two run at once, 0.022 ms to read the peer's gradient.
  const best = bestPairScaling(0.337, 0.95, 0.022);
  assert.ok(Math.abs(best - 0.337 / (0.337 / 0.95 + 0.022)) < 1e-12);
  assert.ok(best > 0.89 && best < 0.9, `best ${best}`);
  assert.equal(bestPairScaling(1, 1, 0), 1);
});
