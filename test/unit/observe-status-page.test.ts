import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { MAX_POINTS, appendBounded, msPerStep, type StepPoint } from '../../src/observe/status-page-data';
import { STATUS_PAGE_HTML } from '../../src/observe/status-page';

const point = (step: number): StepPoint => ({
  step,
  epoch: 1,
  loss: 1 / step,
  accuracy: NaN,
  samplesPerSec: 100,
  lr: 0.1,
  wallTime: step,
});

test('the live curve keeps every recent point and thins only the older half when full', () => {
  const history: StepPoint[] = [];
  appendBounded(
    history,
    Array.from({ length: 10 }, (_, i) => point(i + 1)),
    8,
  );
  // 9 points overflowed 8: the older half (4) kept every other one (2), then point 10 came.
  assert.deepEqual(
    history.map((p) => p.step),
    [1, 3, 5, 6, 7, 8, 9, 10],
  );
  appendBounded(history, [point(10), point(9), point(11)], 8);
  assert.equal(history.at(-1)?.step, 11, 'a resent or older point does not draw the curve backwards');
  assert.ok(history.every((p, i) => i === 0 || p.step > (history[i - 1] as StepPoint).step));
  const long: StepPoint[] = [];
  appendBounded(
    long,
    Array.from({ length: 10 * MAX_POINTS }, (_, i) => point(i + 1)),
  );
  assert.ok(long.length <= MAX_POINTS);
  assert.equal(long[0]?.step, 1, 'the start of the run stays');
  assert.deepEqual(
    long.slice(-3).map((p) => p.step),
    [10 * MAX_POINTS - 2, 10 * MAX_POINTS - 1, 10 * MAX_POINTS],
  );
});

test('a worker’s window becomes milliseconds per step by phase', () => {
  assert.deepEqual(
    msPerStep({ steps: 4, dataSec: 0.004, computeSec: 0.2, communicationSec: 0.1, updateSec: 0.02, peerWaitSec: 0.06 }),
    { data: 1, compute: 50, communication: 25, update: 5, peerWait: 15 },
  );
  assert.deepEqual(
    msPerStep({ steps: 0, dataSec: 1, computeSec: 1, communicationSec: 1, updateSec: 1, peerWaitSec: 1 }),
    { data: 0, compute: 0, communication: 0, update: 0, peerWait: 0 },
  );
});

test('the status page loads nothing from elsewhere and fills the DOM as text only', () => {
  assert.doesNotMatch(STATUS_PAGE_HTML, /(src|href)=["']?(https?:)?\/\//, 'no external script, style or image');
  assert.doesNotMatch(STATUS_PAGE_HTML, /innerHTML|insertAdjacentHTML|document\.write/);
  assert.match(STATUS_PAGE_HTML, /fetch\("status\.json"/);
  assert.ok(Buffer.byteLength(STATUS_PAGE_HTML) < 16 * 1024, `page is ${Buffer.byteLength(STATUS_PAGE_HTML)} bytes`);
});
