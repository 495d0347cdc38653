import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Job, type JobOptions } from '../../src/coordinator/job';
import type { Member } from '../../src/coordinator/rendezvous';

const HASH = 'c0ffee'.repeat(10);
const JOIN_TIMEOUT_MS = 10_000;
const LEASE_MS = 5_000;

function newJob(overrides: Partial<JobOptions> = {}): Job {
  return new Job({
    job: 'mnist',
    worldSize: 2,
    configHash: HASH,
    joinTimeoutMs: JOIN_TIMEOUT_MS,
    leaseMs: LEASE_MS,
    startedAtMs: 1_000,
    ...overrides,
  });
}

function member(workerId: string, rankHint: number, address: string, overrides: Partial<Member> = {}): Member {
  return {
    workerId,
    address,
    rankHint,
    configHash: HASH,
    metricsUrl: `http://${address}/metrics`,
    joinedAtMs: 0,
    ...overrides,
  };
}

/** A job whose two-worker ring formed at t = 2000 ms: w-a is rank 0, w-b rank 1. */
function runningJob(): Job {
  const job = newJob();
  job.join(member('w-a', 0, '10.0.0.1:7000'), 1_500);
  job.join(member('w-b', 1, '10.0.0.2:7000'), 2_000);
  assert.equal(job.phase, 'running');
  return job;
}

test('a job waits in rendezvous, runs generation 1 once every worker joined, and is done when all finish ok', () => {
  const job = newJob();
  assert.equal(job.phase, 'rendezvous');
  assert.equal(job.generation, 0);
  assert.deepEqual(job.join(member('w-b', 1, '10.0.0.2:7000'), 1_500), { kind: 'pending' });
  assert.deepEqual(job.tick(5_000), { kind: 'pending' });
  assert.equal(job.phase, 'rendezvous');

  const formed = job.join(member('w-a', 0, '10.0.0.1:7000'), 6_000);
  const ring = [
    { rank: 0, workerId: 'w-a', address: '10.0.0.1:7000' },
    { rank: 1, workerId: 'w-b', address: '10.0.0.2:7000' },
  ];
  assert.deepEqual(formed, { kind: 'formed', ring, generation: 1 });
  assert.equal(job.phase, 'running');
  assert.equal(job.generation, 1);
  assert.deepEqual(job.ring, ring);
  assert.equal(job.rankOf('w-b'), 1);
  assert.equal(job.rankOf('w-z'), -1);
  // Leases start when the ring forms, not when each worker joined.
  assert.deepEqual(
    job.leases().map((l) => [l.rank, l.lastSeenMs]),
    [
      [0, 6_000],
      [1, 6_000],
    ],
  );

  job.finish('w-a', true, '');
  assert.equal(job.phase, 'running', 'one finished worker does not end the job');
  job.finish('w-b', true, '');
  assert.equal(job.phase, 'done');
  assert.equal(job.reason, '');
  assert.equal(job.generation, 1);
});

test('heartbeats record progress for members and are rejected for strangers', () => {
  const job = runningJob();
  assert.equal(job.heartbeat('w-b', 42, 3, 2_500), true);
  assert.deepEqual(job.progress.get('w-b'), { lastSeenMs: 2_500, step: 42, epoch: 3, finished: false });
  assert.equal(job.heartbeat('w-stranger', 1, 0, 2_500), false);
  assert.equal(job.progress.has('w-stranger'), false);
});

test('a member reporting failure fails the job with a reason naming its rank', () => {
  const job = runningJob();
  job.finish('w-b', false, 'out of memory in step 17');
  assert.equal(job.phase, 'failed');
  assert.equal(job.reason, 'worker rank 1 (w-b) failed: out of memory in step 17');
  // A later success cannot undo the failure.
  job.finish('w-a', true, '');
  assert.equal(job.phase, 'failed');
});

test('a member failing without a reason still gets a readable one', () => {
  const job = runningJob();
  job.finish('w-a', false, '');
  assert.equal(job.reason, 'worker rank 0 (w-a) failed: no reason given');
});

test('a worker that was refused at the door cannot fail the job it never joined', () => {
  const job = newJob();
  job.join(member('w-a', 0, '10.0.0.1:7000'), 1_500);
  const refused = job.join(member('w-x', 1, '10.0.0.9:7000', { configHash: 'f'.repeat(64) }), 1_600);
  assert.equal(refused.kind, 'refused');
  // run-worker reports its own failure after a refused join; the healthy rendezvous goes on.
  assert.equal(job.finish('w-x', false, 'coordinator refused join: different job config'), false);
  assert.equal(job.phase, 'rendezvous');
  assert.equal(job.reason, '');
  job.join(member('w-b', 1, '10.0.0.2:7000'), 2_000);
  assert.equal(job.phase, 'running');
  job.join(member('w-extra', -1, '10.0.0.3:7000'), 2_100);
  assert.equal(job.finish('w-extra', false, 'coordinator refused join: ring already running'), false);
  assert.equal(job.phase, 'running');
});

test('a member that joined but fails before the ring forms fails the job', () => {
  const job = newJob();
  job.join(member('w-a', 0, '10.0.0.1:7000'), 1_500);
  assert.equal(job.finish('w-a', false, 'cannot load MNIST'), true);
  assert.equal(job.phase, 'failed');
  assert.equal(job.reason, 'worker (w-a) failed: cannot load MNIST');
});

test('a member silent for longer than the lease fails the job, naming its rank and address', () => {
  const job = runningJob();
  job.heartbeat('w-a', 10, 0, 6_000);
  // w-b was last seen when the ring formed (2000 ms); exactly one lease later is still fine.
  assert.deepEqual(job.tick(2_000 + LEASE_MS), { kind: 'formed', ring: job.ring, generation: 1 });
  assert.equal(job.phase, 'running');
  const outcome = job.tick(2_000 + LEASE_MS + 1_500);
  assert.equal(job.phase, 'failed');
  assert.equal(job.reason, 'worker rank 1 (w-b at 10.0.0.2:7000) sent no heartbeat for 6.5 s: it died or is stuck');
  assert.deepEqual(outcome, { kind: 'refused', reason: job.reason });
});

test('regular heartbeats keep every lease alive', () => {
  const job = runningJob();
  for (let t = 3_000; t <= 60_000; t += 1_000) {
    job.heartbeat('w-a', t, 0, t);
    job.heartbeat('w-b', t, 0, t);
    job.tick(t + 500);
  }
  assert.equal(job.phase, 'running');
});

test('a member that finished is not declared lost while it waits for the others', () => {
  const job = runningJob();
  job.finish('w-a', true, '');
  job.heartbeat('w-b', 99, 1, 20_000);
  job.tick(22_000);
  assert.equal(job.phase, 'running', 'w-a stopped heartbeating after it finished; that is not a loss');
  job.finish('w-b', true, '');
  assert.equal(job.phase, 'done');
  job.tick(1_000_000);
  assert.equal(job.phase, 'done');
});

test('a join after the ring formed is refused with a reason naming the generation and world size', () => {
  const job = runningJob();
  assert.deepEqual(job.join(member('w-c', -1, '10.0.0.3:7000'), 2_500), {
    kind: 'refused',
    reason: 'the ring (generation 1) is already running with 2 workers; this job takes no more',
  });
  assert.deepEqual(
    job.ring.map((p) => p.workerId),
    ['w-a', 'w-b'],
  );
});

test('a join to a finished job is refused with the job state', () => {
  const job = runningJob();
  job.finish('w-a', true, '');
  job.finish('w-b', true, '');
  assert.deepEqual(job.join(member('w-c', -1, 'h:1'), 3_000), { kind: 'refused', reason: 'job is done' });
});

test('the rendezvous deadline fails the job with the shortfall in the reason', () => {
  const job = newJob();
  job.join(member('w-a', 0, '10.0.0.1:7000'), 1_500);
  assert.deepEqual(job.tick(1_000 + JOIN_TIMEOUT_MS - 1), { kind: 'pending' });
  const outcome = job.tick(1_000 + JOIN_TIMEOUT_MS);
  const reason =
    'rendezvous timed out after 10 s: 1 of 2 workers joined (w-a at 10.0.0.1:7000 as rank 0); missing: rank 1';
  assert.deepEqual(outcome, { kind: 'refused', reason });
  assert.equal(job.phase, 'failed');
  assert.equal(job.reason, reason);
  assert.deepEqual(job.join(member('w-b', 1, '10.0.0.2:7000'), 12_000), {
    kind: 'refused',
    reason: `job is failed: ${reason}`,
  });
});

test('a sub-second join timeout is reported as it was configured', () => {
  const job = newJob({ joinTimeoutMs: 400, startedAtMs: 0 });
  job.tick(400);
  assert.match(job.reason, /^rendezvous timed out after 0\.4 s: 0 of 2 workers joined \(none\)/);
});

test('a failed job keeps its first reason', () => {
  const job = runningJob();
  job.fail('stopped by SIGTERM');
  job.fail('something later');
  job.finish('w-a', false, 'peer lost');
  assert.equal(job.phase, 'failed');
  assert.equal(job.reason, 'stopped by SIGTERM');
});

test('a recovered job is done when a holder of the last generation finishes before it re-joined', () => {
  const job = newJob();
  job.recover({ generation: 3, restarts: 1, holders: ['w-a', 'w-b'] }, 5_000);
  assert.equal(job.phase, 'rendezvous');
  assert.equal(job.finish('w-z', true, ''), false, 'a stranger is still refused');
  assert.equal(job.phase, 'rendezvous');
  assert.equal(job.finish('w-a', true, ''), true);
  assert.equal(job.phase, 'done');
  assert.equal(job.generation, 3, 'nothing re-formed');
  assert.equal(job.finish('w-b', true, ''), true, "the other holder's finish is accepted too");
  assert.equal(job.phase, 'done');
});

test('survivors that finish while the ring re-forms end the job; a failing holder fails it', () => {
  const lost = newJob({ maxRestarts: 1 });
  lost.join(member('w-a', 0, '10.0.0.1:7000'), 1_500);
  lost.join(member('w-b', 1, '10.0.0.2:7000'), 2_000);
  lost.heartbeat('w-a', 10, 1, 2_000 + LEASE_MS);
  lost.tick(2_000 + LEASE_MS + 1);
  assert.equal(lost.phase, 'rendezvous', 'w-b was lost and the ring re-forms');
  assert.equal(lost.finish('w-a', true, ''), true);
  assert.equal(lost.phase, 'done');

  const failing = newJob();
  failing.recover({ generation: 1, restarts: 0, holders: ['w-a', 'w-b'] }, 5_000);
  assert.equal(failing.finish('w-b', false, 'out of memory'), true);
  assert.equal(failing.phase, 'failed');
  assert.match(failing.reason, /w-b.*out of memory/);
});
