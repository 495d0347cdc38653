/**
 * The worker's life cycle as decisions (life-cycle.ts): each test sets a state, picks a clock
 * value and asserts the one action, with no sockets and no sleeps. The elastic paths are the ones
 * the e2e tests drive with real processes (elastic.test.ts, elastic-shrink.test.ts,
 * hung-processes.test.ts, sigstop.test.ts).
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { RingtrainError } from '../../src/core';
import {
  VERDICT_POLL_MS,
  abortReason,
  decide,
  initialLife,
  neighbours,
  verdictWaitMs,
  type LifeAction,
  type LifeEvent,
  type LifeState,
} from '../../src/worker/life-cycle';

const VERDICT_MS = 12_000;

/** Runs events from `s` at the given clock values; returns every action and the last state. */
function run(s: LifeState, events: [LifeEvent, number][]): { actions: LifeAction[]; state: LifeState } {
  const actions: LifeAction[] = [];
  let state = s;
  for (const [e, now] of events) {
    const d = decide(state, e, now);
    state = d.state;
    actions.push(d.action);
  }
  return { actions, state };
}

const training = (elastic: boolean, rank = 1, world = 3): LifeState =>
  run(initialLife(elastic, VERDICT_MS), [
    [{ kind: 'start' }, 0],
    [{ kind: 'joined', rank, world, generation: 1 }, 10],
  ]).state;

const ringError = (
  code: 'UNAVAILABLE' | 'TIMEOUT' | 'REGENERATING' | 'SIZE_MISMATCH' | 'DATA_INVALID',
  message = `${code} from the ring`,
) => {
  const cause = new RingtrainError(code, message);
  return { code, message, cause };
};

test('join, train, finish, exit: the undisturbed run', () => {
  const { actions, state } = run(initialLife(false, VERDICT_MS), [
    [{ kind: 'start' }, 0],
    [{ kind: 'joined', rank: 0, world: 2, generation: 1 }, 5],
    [{ kind: 'trained' }, 100],
    [{ kind: 'finished' }, 120],
  ]);
  assert.deepEqual(
    actions.map((a) => a.kind),
    ['join', 'train', 'finish', 'exit'],
  );
  assert.equal(state.phase, 'done');
  assert.deepEqual(
    { rank: state.rank, world: state.world, generation: state.generation },
    { rank: 0, world: 2, generation: 1 },
  );
});

test("the coordinator's failure verdict mid-step aborts the ring with JOB_FAILED, and training then gives up with it", () => {
  const d = decide(training(true), { kind: 'fatal', reason: 'rank 2 lost' }, 50);
  assert.deepEqual(d.action, { kind: 'abort-ring', error: { code: 'JOB_FAILED', message: 'rank 2 lost' } });
  assert.deepEqual(
    abortReason(d.state),
    { code: 'JOB_FAILED', message: 'rank 2 lost' },
    'the next micro-batch stops too',
  );
  const after = decide(d.state, { kind: 'train-failed', error: ringError('UNAVAILABLE') }, 60);
  assert.deepEqual(
    after.action,
    { kind: 'give-up', error: { code: 'JOB_FAILED', message: 'rank 2 lost' }, report: true },
    'a recoverable error does not outrank the verdict',
  );
  assert.equal(after.state.phase, 'failed');
});

test('elastic: a new rendezvous mid-step aborts the ring with REGENERATING, and the worker re-joins keeping its state (a peer killed and replaced)', () => {
  const heard = decide(training(true), { kind: 'rendezvous', reason: 'rank 2 was lost' }, 50);
  assert.deepEqual(heard.action, { kind: 'abort-ring', error: { code: 'REGENERATING', message: 'rank 2 was lost' } });
  assert.deepEqual(abortReason(heard.state), { code: 'REGENERATING', message: 'rank 2 was lost' });
  const { actions, state } = run(heard.state, [
    [{ kind: 'train-failed', error: ringError('REGENERATING', 'rank 2 was lost') }, 55],
    [{ kind: 'start' }, 56],
    [{ kind: 'joined', rank: 0, world: 2, generation: 2 }, 900],
  ]);
  assert.deepEqual(actions, [{ kind: 'rejoin', reason: 'rank 2 was lost' }, { kind: 'join' }, { kind: 'train' }]);
  assert.equal(state.regenerating, undefined, 'the new generation starts without the old call');
  assert.equal(abortReason(state), undefined);
  assert.deepEqual(
    { rank: state.rank, world: state.world, generation: state.generation },
    { rank: 0, world: 2, generation: 2 },
    "the shrunk ring's rank and size",
  );
});

test('a failure verdict during the final evaluation aborts its collectives too; a failure there gives up with JOB_FAILED', () => {
  const finishing = decide(training(false), { kind: 'trained' }, 100).state;
  const d = decide(finishing, { kind: 'fatal', reason: 'rank 0 lost' }, 110);
  assert.deepEqual(d.action, { kind: 'abort-ring', error: { code: 'JOB_FAILED', message: 'rank 0 lost' } });
  const after = decide(d.state, { kind: 'failed', error: { code: 'ABORTED', message: 'aborted' } }, 120);
  assert.deepEqual(after.action, {
    kind: 'give-up',
    error: { code: 'JOB_FAILED', message: 'rank 0 lost' },
    report: true,
  });
});

test("a fixed-size ring ignores a rendezvous call and gives up on the first break with the ring's own error (a SIGSTOPped peer)", () => {
  const s = training(false);
  const heard = decide(s, { kind: 'rendezvous', reason: 'x' }, 10);
  assert.deepEqual(heard, { state: s, action: { kind: 'none' } });
  const err = ringError('TIMEOUT', 'rank 2 did not answer within 5 s');
  const d = decide(s, { kind: 'train-failed', error: err }, 20);
  assert.equal(d.action.kind, 'give-up');
  assert.equal(
    d.action.kind === 'give-up' && d.action.error.cause,
    err.cause,
    'the error itself is rethrown, naming the stopped rank',
  );
});

test('elastic: an error no new ring cures gives up at once', () => {
  for (const code of ['SIZE_MISMATCH', 'DATA_INVALID'] as const) {
    const d = decide(training(true), { kind: 'train-failed', error: ringError(code) }, 20);
    assert.deepEqual(d.action.kind === 'give-up' ? d.action.error.code : d.action.kind, code);
  }
  const internal = decide(training(true), { kind: 'train-failed', error: { code: 'INTERNAL', message: 'bug' } }, 20);
  assert.equal(internal.action.kind, 'give-up');
});

test('elastic: a broken ring with no verdict yet names both neighbours, heartbeats, and re-joins when the coordinator calls a rendezvous (a peer SIGKILLed, never replaced)', () => {
  const s = training(true, 1, 3);
  const err = ringError('UNAVAILABLE', 'rank 2 closed the connection');
  const { actions, state } = run(s, [
    [{ kind: 'train-failed', error: err }, 1_000],
    [{ kind: 'heartbeat-done' }, 1_010],
    [{ kind: 'paused' }, 1_000 + VERDICT_POLL_MS + 10],
    [{ kind: 'rendezvous', reason: 'rank 2 lost its lease' }, 1_300],
    [{ kind: 'heartbeat-done' }, 1_310],
  ]);
  assert.deepEqual(actions, [
    { kind: 'report-broken', suspects: [2, 0], error: err },
    { kind: 'pause', ms: VERDICT_POLL_MS },
    { kind: 'heartbeat' },
    { kind: 'none' },
    { kind: 'rejoin', reason: 'rank 2 lost its lease' },
  ]);
  assert.equal(state.phase, 'joining');
  assert.equal(state.verdictDeadlineMs, undefined);
});

test("elastic: the verdict wait ends at its deadline, giving up with the ring's error", () => {
  const err = ringError('TIMEOUT', 'rank 0 stopped answering');
  const { actions } = run(training(true, 1, 2), [
    [{ kind: 'train-failed', error: err }, 1_000],
    [{ kind: 'heartbeat-done' }, 1_100],
    [{ kind: 'paused' }, 1_000 + VERDICT_MS - 1],
    [{ kind: 'heartbeat-done' }, 1_000 + VERDICT_MS - 1],
    [{ kind: 'paused' }, 1_000 + VERDICT_MS],
  ]);
  assert.deepEqual(actions[0], { kind: 'report-broken', suspects: [0], error: err }, 'a pair has one neighbour');
  assert.deepEqual(
    actions.slice(1, 4).map((a) => a.kind),
    ['pause', 'heartbeat', 'pause'],
    'one ms before the deadline it still asks',
  );
  assert.deepEqual(actions[4], { kind: 'give-up', error: err, report: true });
});

test('elastic: a failure verdict heard while waiting gives up with JOB_FAILED (the coordinator declared the job lost)', () => {
  const { actions } = run(training(true), [
    [{ kind: 'train-failed', error: ringError('UNAVAILABLE') }, 0],
    [{ kind: 'fatal', reason: 'restart budget spent' }, 50],
    [{ kind: 'heartbeat-done' }, 60],
  ]);
  assert.deepEqual(actions.slice(1), [
    { kind: 'none' },
    { kind: 'give-up', error: { code: 'JOB_FAILED', message: 'restart budget spent' }, report: true },
  ]);
});

test('a failure outside training: unreported before the coordinator admitted the worker, reported after; a config error outranks a failure verdict', () => {
  const early = decide(
    initialLife(true, VERDICT_MS),
    { kind: 'failed', error: { code: 'UNAVAILABLE', message: 'no coordinator' } },
    0,
  );
  assert.deepEqual(early.action, {
    kind: 'give-up',
    error: { code: 'UNAVAILABLE', message: 'no coordinator' },
    report: false,
  });
  const s = decide(training(true), { kind: 'fatal', reason: 'job failed' }, 5).state;
  const save = decide(s, { kind: 'failed', error: { code: 'WRITE_FAILED', message: 'disk full' } }, 10);
  assert.deepEqual(save.action, {
    kind: 'give-up',
    error: { code: 'JOB_FAILED', message: 'job failed' },
    report: true,
  });
  const config = decide(s, { kind: 'failed', error: { code: 'CONFIG_INVALID', message: 'bad dir' } }, 10);
  assert.deepEqual(config.action, {
    kind: 'give-up',
    error: { code: 'CONFIG_INVALID', message: 'bad dir' },
    report: true,
  });
});

test('heartbeat events outside a verdict wait change nothing', () => {
  const s = training(true);
  assert.deepEqual(decide(s, { kind: 'heartbeat-done' }, 5), { state: s, action: { kind: 'none' } });
  assert.deepEqual(decide(s, { kind: 'paused' }, 5), { state: s, action: { kind: 'none' } });
  const joining = run(initialLife(true, VERDICT_MS), [[{ kind: 'start' }, 0]]).state;
  const heard = decide(joining, { kind: 'rendezvous', reason: 'r' }, 1);
  assert.equal(heard.action.kind, 'none', 'no ring to abort while joining');
  assert.equal(heard.state.regenerating, 'r');
});

test("the verdict deadline covers a lease and two heartbeats, or the coordinator's grace when longer, plus 2 s; neighbours", () => {
  assert.equal(verdictWaitMs({ leaseTimeoutSec: 5, heartbeatIntervalSec: 1 }, 4_000), 9_000);
  assert.equal(verdictWaitMs({ leaseTimeoutSec: 5, heartbeatIntervalSec: 1 }, 30_000), 32_000);
  assert.deepEqual(neighbours(0, 4), [1, 3]);
  assert.deepEqual(neighbours(1, 2), [0]);
  assert.deepEqual(neighbours(0, 1), []);
});
