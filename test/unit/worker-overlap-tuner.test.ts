import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { OverlapTuner } from '../../src/worker/overlap-tuner';

test('the trial overlaps through the warm-up, then alternates blocks, and is due right after its last step', () => {
  const t = new OverlapTuner({ after: 3, block: 2, blocks: 4 });
  const ways: boolean[] = [];
  for (let i = 0; i < 11; i++) {
    assert.equal(t.due, false, `not due before step ${i}`);
    const on = t.overlapNext;
    ways.push(on);
    t.record(on, on ? 0.01 : 0.02);
  }
  assert.deepEqual(ways, [true, true, true, true, true, false, false, true, true, false, false]);
  assert.equal(t.due, true);
  // Only the trial's steps count: 4 with overlap at 10 ms, 4 without at 20 ms.
  const [withOverlap, without] = t.means();
  assert.ok(Math.abs(withOverlap - 0.01) < 1e-12 && Math.abs(without - 0.02) < 1e-12, `${withOverlap} ${without}`);
});

test('the choice keeps overlap unless the plain step is more than 2% faster, and then holds', () => {
  const decide = (withOverlap: number, without: number): boolean => {
    const t = new OverlapTuner({ after: 0, block: 1, blocks: 2 });
    t.record(true, withOverlap);
    t.record(false, without);
    assert.equal(t.due, true);
    const on = t.decide(withOverlap, without);
    t.record(on, 1);
    assert.equal(t.due, false, 'due once');
    assert.equal(t.overlapNext, on, 'the choice holds');
    return on;
  };
  assert.equal(decide(10, 12), true, 'overlap faster');
  assert.equal(decide(10, 9.9), true, 'within the noise: overlap kept');
  assert.equal(decide(10, 9.7), false, 'the plain step 3% faster');
});

test('a trial that cannot alternate evenly is refused', () => {
  assert.throws(() => new OverlapTuner({ after: 0, block: 2, blocks: 3 }), /even number of blocks/);
  assert.throws(() => new OverlapTuner({ after: 0, block: 0, blocks: 2 }), /block >= 1/);
});
