import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { StragglerDetector } from '../../src/coordinator/stragglers';

/** Feeds `intervals` heartbeats of 10 steps each; busy seconds per step per rank as given. */
function feed(d: StragglerDetector, perStep: number[], intervals: number, start = 0): void {
  for (let i = start; i <= start + intervals; i++) perStep.forEach((s, rank) => d.observe(rank, i * 10, i * 10 * s));
}

test('a rank persistently busier than the median of the others is named, with its ratio', () => {
  const d = new StragglerDetector({ ratio: 1.3, patience: 3 });
  feed(d, [0.01, 0.011, 0.02, 0.01], 4);
  assert.deepEqual(
    d.stragglers().map((s) => s.rank),
    [2],
  );
  assert.ok(Math.abs(d.stragglers()[0]!.ratio - 2) < 0.01, `ratio ${d.stragglers()[0]!.ratio}`);
  assert.equal(d.isStraggler(1), false);
});

test('one slow interval is noise, not a straggler', () => {
  const d = new StragglerDetector({ ratio: 1.3, patience: 3 });
  feed(d, [0.01, 0.01, 0.01], 3);
  feed(d, [0.01, 0.01, 0.05], 1, 3);
  feed(d, [0.01, 0.01, 0.01], 3, 4);
  assert.deepEqual(d.stragglers(), []);
});

test('a straggler that recovers is no longer named, and equal ranks never are', () => {
  const d = new StragglerDetector({ ratio: 1.3, patience: 2 });
  feed(d, [0.01, 0.03], 3);
  assert.deepEqual(
    d.stragglers().map((s) => s.rank),
    [1],
  );
  feed(d, [0.01, 0.01], 2, 3);
  assert.deepEqual(d.stragglers(), []);
  const even = new StragglerDetector();
  feed(even, [0.01, 0.0102, 0.0099], 10);
  assert.deepEqual(even.stragglers(), []);
});
