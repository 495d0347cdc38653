import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { StepClock } from '../../src/worker/step-clock';

const ms = (ns: bigint): number => Number(ns) / 1e6;

test('a recording step clock keeps each stretch with its real times, splits communication at the first arrival, and starts over every step', () => {
  const clock = new StepClock(undefined, true);
  const t0 = process.hrtime.bigint() - 10_000_000n; // 10 ms ago
  clock.startStep(t0);
  clock.span('data', t0, t0 + 1_000_000n);
  clock.span('compute', t0 + 1_000_000n, t0 + 4_000_000n);
  clock.span('empty', t0 + 4_000_000n, t0 + 4_000_000n); // nothing ran: not kept
  const ready = t0 + 5_000_000n;
  const arrival = t0 + 7_000_000n;
  clock.communicated(0.004, ready, arrival);
  const split = clock.endStep();
  const spans = split.spans ?? assert.fail('no spans recorded');
  assert.deepEqual(
    spans.map((s) => s.name),
    ['data', 'compute', 'wait for peers', 'exchange'],
  );
  // Relative to the data stretch's start, which is the step's start (t0).
  const origin = spans[0]!.startMs;
  const at = (i: number): { start: number; end: number } => ({
    start: spans[i]!.startMs - origin,
    end: spans[i]!.endMs - origin,
  });
  // Times relative to the step's start, in ms (float rounding aside).
  const close = (a: number, b: number, what: string): void =>
    assert.ok(Math.abs(a - b) < 1e-6, `${what}: ${a} vs ${b}`);
  close(at(1).start, 1, 'compute starts where data ended');
  close(at(0).end, 1, 'data end');
  close(at(1).end, 4, 'compute end');
  close(at(2).start, ms(ready - t0), 'the wait starts when the rank is ready');
  close(at(2).end, ms(arrival - t0), 'and ends at the first arrival');
  close(at(3).start, ms(arrival - t0), 'the exchange starts there');
  assert.ok(at(3).end >= 10 - 1e-6, 'and lasts until the all-reduce returned (now)');
  assert.ok(Math.abs(split.seconds.peerWait - 0.002) < 1e-9, `peer wait ${split.seconds.peerWait}`);

  // The next step: its own stretches only; with no arrival noted (one rank), all of the
  // communication is exchange.
  const t1 = process.hrtime.bigint() - 1_000n;
  clock.startStep(t1);
  clock.communicated(0, t1, undefined);
  const next = clock.endStep();
  assert.deepEqual(
    next.spans?.map((s) => s.name),
    ['exchange'],
  );
});

test('a step clock that does not record keeps no stretches', () => {
  const clock = new StepClock();
  const t0 = process.hrtime.bigint();
  clock.startStep(t0);
  clock.span('data', t0 - 1_000_000n, t0);
  clock.communicated(0.001, t0, t0 + 500_000n);
  assert.equal(clock.endStep().spans, undefined);
});
