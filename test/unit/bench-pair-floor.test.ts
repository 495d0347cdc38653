import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { pairFloorMs } from '../../bench/pair-floor';

test('pairFloorMs times a read of what the other thread wrote, and checks the values it read', async () => {
  const ms = await pairFloorMs(25_000, 60);
  assert.ok(Number.isFinite(ms) && ms > 0, `floor ${ms} ms`);
  // 100 KB from another core's cache: well under the 30 s deadline, and not free.
  assert.ok(ms < 50, `floor ${ms} ms`);
});
