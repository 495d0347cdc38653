import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Job } from '../../src/coordinator/job';
import {
  admit,
  assignRanks,
  decideRendezvous,
  type Member,
  type RendezvousState,
} from '../../src/coordinator/rendezvous';

const HASH = 'a'.repeat(64);

function member(workerId: string, rankHint = -1, overrides: Partial<Member> = {}): Member {
  return {
    workerId,
    address: `127.0.0.1:${5000 + workerId.charCodeAt(workerId.length - 1)}`,
    rankHint,
    configHash: HASH,
    metricsUrl: '',
    joinedAtMs: 0,
    ...overrides,
  };
}

function state(worldSize: number, members: Member[], deadlineMs = 10_000): RendezvousState {
  return { worldSize, members, deadlineMs };
}

test('the rendezvous waits until the deadline while fewer than N workers have joined', () => {
  assert.deepEqual(decideRendezvous(state(3, [member('w-a', 0)]), 0), { kind: 'wait', untilMs: 10_000 });
  assert.deepEqual(decideRendezvous(state(3, [member('w-a', 0), member('w-b', 1)]), 9_999), {
    kind: 'wait',
    untilMs: 10_000,
  });
});

test('the rendezvous forms the ring as soon as N workers have joined, even before the deadline', () => {
  const action = decideRendezvous(state(2, [member('w-b', 1), member('w-a', 0)]), 1);
  assert.equal(action.kind, 'form');
  assert.deepEqual(action.kind === 'form' ? action.ring.map((p) => [p.rank, p.workerId]) : [], [
    [0, 'w-a'],
    [1, 'w-b'],
  ]);
});

test('a full ring forms even when the last worker arrives exactly at the deadline', () => {
  assert.equal(decideRendezvous(state(2, [member('w-a'), member('w-b')]), 10_000).kind, 'form');
});

test('the rendezvous times out at the deadline, listing who joined and which hinted ranks are missing', () => {
  const action = decideRendezvous(state(3, [member('w-a', 0, { address: '10.0.0.1:5000' })]), 10_000);
  assert.deepEqual(action, {
    kind: 'timeout',
    message: '1 of 3 workers joined (w-a at 10.0.0.1:5000 as rank 0); missing: ranks 1, 2',
  });
});

test('a timeout with one missing hinted rank names it in the singular', () => {
  const action = decideRendezvous(state(2, [member('w-b', 1, { address: 'h:1' })]), 20_000);
  assert.equal(
    action.kind === 'timeout' ? action.message : '',
    '1 of 2 workers joined (w-b at h:1 as rank 1); missing: rank 0',
  );
});

test('a timeout without rank hints says how many workers are missing', () => {
  const action = decideRendezvous(
    state(4, [member('w-a', -1, { address: 'h:1' }), member('w-b', -1, { address: 'h:2' })]),
    10_001,
  );
  assert.equal(
    action.kind === 'timeout' ? action.message : '',
    '2 of 4 workers joined (w-a at h:1, w-b at h:2); missing: 2 more workers',
  );
});

test('a timeout with only some workers hinted counts the missing workers rather than guessing ranks', () => {
  const action = decideRendezvous(
    state(3, [member('w-a', 2, { address: 'h:1' }), member('w-b', -1, { address: 'h:2' })]),
    10_000,
  );
  assert.equal(
    action.kind === 'timeout' ? action.message : '',
    '2 of 3 workers joined (w-a at h:1 as rank 2, w-b at h:2); missing: 1 more worker',
  );
});

test('assignRanks honours distinct rank hints over worker id order', () => {
  const ring = assignRanks([member('w-a', 2), member('w-b', 0), member('w-c', 1)], 3);
  assert.deepEqual(
    ring.map((p) => [p.rank, p.workerId]),
    [
      [0, 'w-b'],
      [1, 'w-c'],
      [2, 'w-a'],
    ],
  );
  assert.equal(ring[0]?.address, member('w-b').address);
});

test('assignRanks sorts by worker id when there are no hints, whatever the join order', () => {
  const ids = ['w-c', 'w-a', 'w-d', 'w-b'];
  const expected = [
    [0, 'w-a'],
    [1, 'w-b'],
    [2, 'w-c'],
    [3, 'w-d'],
  ];
  for (const order of [ids, [...ids].reverse(), ['w-b', 'w-d', 'w-a', 'w-c']]) {
    assert.deepEqual(
      assignRanks(
        order.map((id) => member(id)),
        4,
      ).map((p) => [p.rank, p.workerId]),
      expected,
    );
  }
});

test('assignRanks falls back to worker id order when only some workers have hints', () => {
  const ring = assignRanks([member('w-b', 0), member('w-a')], 2);
  assert.deepEqual(
    ring.map((p) => [p.rank, p.workerId]),
    [
      [0, 'w-a'],
      [1, 'w-b'],
    ],
  );
});

test('admit accepts a matching worker into an open rendezvous', () => {
  assert.deepEqual(admit(state(2, [member('w-a', 0)]), member('w-b', 1), HASH), { ok: true });
});

test('admit refuses a worker with a different config hash, naming both hash prefixes', () => {
  const verdict = admit(state(2, []), member('w-a', 0, { configHash: 'b'.repeat(64) }), HASH);
  assert.equal(verdict.ok, false);
  const reason = verdict.ok ? '' : verdict.reason;
  assert.match(reason, /worker w-a runs a different job config/);
  assert.ok(reason.includes('b'.repeat(12)), reason);
  assert.ok(reason.includes('a'.repeat(12)), reason);
  assert.ok(!reason.includes('a'.repeat(13)), `the hashes are shortened to 12 characters: ${reason}`);
});

test('admit refuses a rank hint that another worker already holds, naming the holder', () => {
  const holder = member('w-a', 1, { address: '10.0.0.7:6000' });
  const verdict = admit(state(3, [holder]), member('w-b', 1), HASH);
  assert.deepEqual(verdict, {
    ok: false,
    reason: 'rank 1 is already taken by worker w-a at 10.0.0.7:6000: each worker needs its own RANK',
  });
});

test('admit refuses a rank hint at or beyond the world size', () => {
  for (const hint of [2, 7]) {
    const verdict = admit(state(2, []), member('w-a', hint), HASH);
    assert.deepEqual(verdict, { ok: false, reason: `worker w-a asks for rank ${hint}, but the world size is 2` });
  }
});

test('admit refuses a new worker once the ring is full', () => {
  const verdict = admit(state(2, [member('w-a'), member('w-b')]), member('w-c'), HASH);
  assert.equal(verdict.ok, false);
  assert.match(verdict.ok ? '' : verdict.reason, /already has 2 workers.*cluster\.worldSize = 2/);
});

test('admit lets a worker re-join with its own id and rank hint, even into a full ring', () => {
  const s = state(2, [member('w-a', 0), member('w-b', 1)]);
  assert.deepEqual(admit(s, member('w-a', 0, { address: '127.0.0.1:9999' }), HASH), { ok: true });
});

test('a worker re-joining with the same id replaces its entry instead of taking a second seat', () => {
  const job = new Job({
    job: 'j',
    worldSize: 2,
    configHash: HASH,
    joinTimeoutMs: 10_000,
    leaseMs: 5_000,
    startedAtMs: 0,
  });
  assert.deepEqual(job.join(member('w-a', 0, { address: 'old:1' }), 10), { kind: 'pending' });
  assert.deepEqual(job.join(member('w-a', 0, { address: 'new:1' }), 20), { kind: 'pending' });
  assert.deepEqual(
    job.members.map((m) => [m.workerId, m.address]),
    [['w-a', 'new:1']],
  );
  assert.equal(job.phase, 'rendezvous');
});
