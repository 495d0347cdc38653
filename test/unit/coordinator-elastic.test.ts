import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Job, type JobOptions } from '../../src/coordinator/job';
import type { Member } from '../../src/coordinator/rendezvous';

const opts = (o: Partial<JobOptions> = {}): JobOptions => ({
  job: 'j',
  worldSize: 3,
  configHash: 'h',
  joinTimeoutMs: 10_000,
  leaseMs: 5_000,
  startedAtMs: 0,
  maxRestarts: 2,
  minWorkers: 2,
  lastCallMs: 1_000,
  suspectGraceMs: 1_500,
  ...o,
});
const member = (id: string, rankHint: number): Member => ({
  workerId: id,
  address: `h:${rankHint}`,
  rankHint,
  configHash: 'h',
  metricsUrl: '',
  joinedAtMs: 0,
});

/** b goes silent; a and c keep heartbeating until 4 s. */
function loseB(job: Job): void {
  job.heartbeat('a', 10, 0, 4_000);
  job.heartbeat('c', 10, 0, 4_000);
  job.tick(6_000);
}

function formed(o: Partial<JobOptions> = {}): Job {
  const job = new Job(opts(o));
  job.join(member('a', 0), 0);
  job.join(member('b', 1), 0);
  const r = job.join(member('c', 2), 0);
  assert.equal(r.kind, 'formed');
  return job;
}

test('a lost member sends the job back to rendezvous with a restart counted, not to failure', () => {
  const job = formed();
  job.heartbeat('a', 10, 0, 4_000);
  job.heartbeat('c', 10, 0, 4_000);
  job.tick(6_000); // b silent since 0: lease (5 s) expired
  assert.equal(job.phase, 'rendezvous');
  assert.equal(job.restarts, 1);
  assert.match(job.lastChange, /worker rank 1 \(b at h:1\) sent no heartbeat/);
  // Survivors still get answers to their heartbeats while they re-join.
  assert.equal(job.heartbeat('a', 10, 0, 6_100), true);
});

test('survivors re-form at minWorkers after the last call, and the lowest surviving rank is the state source', () => {
  const job = formed();
  loseB(job);
  job.join(member('c', 2), 6_100);
  assert.equal(job.join(member('a', 0), 6_200).kind, 'pending', 'min reached: wait for the last call');
  const r = job.tick(7_300);
  assert.equal(r.kind, 'formed');
  assert.equal(job.generation, 2);
  assert.deepEqual(
    job.ring.map((p) => [p.rank, p.workerId]),
    [
      [0, 'a'],
      [1, 'c'],
    ],
  );
  assert.equal(job.stateSourceRank, 0);
  assert.equal(job.lastRecoveryMs, 1_300);
});

test('a replacement with the lost rank fills the ring at once, and fresh members get the state from a survivor', () => {
  const job = formed();
  // The launcher restarted rank 0 as a new process before its lease ran out; a has been silent
  // for the suspect grace, while b and c kept beating.
  job.heartbeat('b', 3, 0, 1_900);
  job.heartbeat('c', 3, 0, 1_900);
  assert.equal(job.join(member('a2', 0), 2_000).kind, 'pending');
  assert.equal(job.phase, 'rendezvous');
  assert.match(job.lastChange, /worker rank 0 \(a\) was replaced by a2/);
  job.join(member('b', 1), 2_100);
  const r = job.join(member('c', 2), 2_200);
  assert.equal(r.kind, 'formed', 'a full ring forms without waiting for the last call');
  assert.deepEqual(
    job.ring.map((p) => p.workerId),
    ['a2', 'b', 'c'],
  );
  assert.equal(job.stateSourceRank, 1, 'rank 0 is new; rank 1 (b) holds the state');
});

test('when restarts run out, a loss fails the job with the count in the reason', () => {
  const job = formed({ maxRestarts: 1 });
  loseB(job);
  job.join(member('a', 0), 6_000);
  job.join(member('c', 2), 6_000);
  job.tick(7_100);
  assert.equal(job.phase, 'running');
  job.tick(20_000);
  assert.equal(job.phase, 'failed');
  assert.match(job.reason, /no restarts left \(1 of 1 used\)/);
});

test('an accusation is believed only once the accused has been silent for the grace period', () => {
  const job = formed();
  job.heartbeat('b', 5, 0, 1_000);
  job.accuse(1, 2_000);
  assert.equal(job.phase, 'running', '1 s of silence is within the grace');
  job.accuse(1, 2_600);
  assert.equal(job.phase, 'rendezvous');
  assert.match(job.lastChange, /its ring neighbour lost it/);
});

test('a worker joining a shrunken running ring waits for the epoch boundary, then the ring grows', () => {
  const job = formed();
  loseB(job);
  job.join(member('a', 0), 6_000);
  job.join(member('c', 2), 6_000);
  job.tick(7_100);
  assert.equal(job.ring.length, 2);
  assert.equal(job.join(member('d', 1), 8_000).kind, 'pending');
  assert.equal(job.phase, 'running', 'no disruption mid-epoch');
  job.epochBoundary(9_000);
  assert.equal(job.phase, 'rendezvous');
  job.join(member('a', 0), 9_100);
  const r = job.join(member('c', 2), 9_200);
  assert.equal(r.kind, 'formed');
  assert.deepEqual(
    job.ring.map((p) => p.workerId),
    ['a', 'd', 'c'],
  );
  assert.equal(job.restarts, 1, 'growing is not a restart');
  assert.equal(job.stateSourceRank, 0);
});

test('a fixed-size job (no restarts) still fails at the first loss', () => {
  const job = formed({ maxRestarts: 0, minWorkers: 3 });
  job.tick(6_000);
  assert.equal(job.phase, 'failed');
  assert.match(job.reason, /sent no heartbeat/);
  assert.doesNotMatch(job.reason, /restarts/);
});

test('a worker whose model has other parameter shapes is refused, naming both models', () => {
  const job = new Job(opts({ maxRestarts: 0, minWorkers: 3 }));
  assert.equal(job.join({ ...member('a', 0), modelFingerprint: '101770:aaaaaaaaaaaaaaaa' }, 0).kind, 'pending');
  const r = job.join({ ...member('b', 1), modelFingerprint: '50890:bbbbbbbbbbbbbbbb' }, 0);
  assert.equal(r.kind, 'refused');
  assert.match(
    (r as { reason: string }).reason,
    /worker b built a different model \(50890 parameters, shapes bbbbbbbbbbbb\) than the ring's \(101770 parameters, shapes aaaaaaaaaaaa\)/,
  );
  assert.equal(job.join({ ...member('c', 2), modelFingerprint: '101770:aaaaaaaaaaaaaaaa' }, 0).kind, 'pending');
});

test('a second worker claiming the rank of a live member is told to wait, and the member keeps its place', () => {
  const job = formed();
  job.heartbeat('b', 3, 0, 900);
  const claim = job.join(member('x', 1), 1_000);
  assert.equal(claim.kind, 'refused');
  assert.equal((claim as { busy?: boolean }).busy, true);
  assert.match(
    (claim as { reason: string }).reason,
    /rank 1 is held by worker b at h:1, which is alive \(last heartbeat 0\.1 s ago\): each live worker needs its own RANK/,
  );
  assert.deepEqual([job.phase, job.restarts, job.ring.map((p) => p.workerId)], ['running', 0, ['a', 'b', 'c']]);
});
