import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as grpc from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import { Job } from '../../src/coordinator/job';
import { CoordinatorService } from '../../src/coordinator/service';
import { createLogger } from '../../src/observe/logger';
import { createCoordinatorMetrics } from '../../src/observe/metrics-coordinator';
import { memoryDestination } from './support';

/**
 * The service's handlers called directly, with an injected clock: no sockets, no timers (the tick
 * timer only starts with `start()`, which these tests never call).
 */

const HASH = 'ab'.repeat(32);

interface Answer {
  code: grpc.status | undefined;
  details: string;
  value: Record<string, unknown> | undefined;
}

function harness(
  opts: {
    worldSize?: number;
    joinTimeoutMs?: number;
    minWorkers?: number;
    maxRestarts?: number;
    lastCallMs?: number;
  } = {},
) {
  const mem = memoryDestination();
  const log = createLogger({ job: 'svc', role: 'coordinator', destination: mem.stream });
  const registry = new Registry();
  const metrics = createCoordinatorMetrics(registry);
  let now = 0;
  const job = new Job({
    job: 'svc',
    worldSize: opts.worldSize ?? 2,
    configHash: HASH,
    joinTimeoutMs: opts.joinTimeoutMs ?? 10_000,
    leaseMs: 5_000,
    startedAtMs: 0,
    minWorkers: opts.minWorkers,
    maxRestarts: opts.maxRestarts,
    lastCallMs: opts.lastCallMs,
  });
  const service = new CoordinatorService(job, log, metrics, { seed: 7, shuffle: true, dropLast: false }, () => now);
  const impl = service.implementation();
  /** Calls a handler; `answered()` is the reply once (and if) the service sent one. */
  const call = (method: string, request: Record<string, unknown>): { answered: () => Answer | undefined } => {
    let answer: Answer | undefined;
    const handler = impl[method] as unknown as (c: { request: unknown }, cb: grpc.sendUnaryData<object>) => void;
    handler({ request: { job: 'svc', ...request } }, (err, value) => {
      answer = {
        code: err?.code,
        details: err?.details ?? '',
        value: (value ?? undefined) as Record<string, unknown> | undefined,
      };
    });
    return { answered: () => answer };
  };
  const join = (workerId: string, rankHint: number, configHash = HASH) =>
    call('Join', { workerId, address: `10.0.0.${rankHint + 2}:7000`, rankHint, configHash, metricsUrl: '' });
  return {
    job,
    service,
    registry,
    call,
    join,
    setNow: (t: number) => void (now = t),
    lines: mem.lines,
  };
}

async function value(registry: Registry, name: string): Promise<number | undefined> {
  const metric = registry.getSingleMetric(name);
  const got = await metric?.get();
  return got?.values[0]?.value;
}

async function stateValue(registry: Registry, state: string): Promise<number | undefined> {
  const got = await registry.getSingleMetric('ringtrain_job_state')?.get();
  return got?.values.find((v) => v.labels.state === state)?.value;
}

test('a join is held until the ring forms, then every held join learns its own rank', () => {
  const h = harness();
  const first = h.join('w-a', 1);
  assert.equal(first.answered(), undefined, 'the first join waits for the second');
  h.setNow(500);
  const second = h.join('w-b', 0);
  const ring = [
    { rank: 0, workerId: 'w-b', address: '10.0.0.2:7000' },
    { rank: 1, workerId: 'w-a', address: '10.0.0.3:7000' },
  ];
  assert.deepEqual(first.answered(), {
    code: undefined,
    details: '',
    value: {
      rank: 1,
      worldSize: 2,
      generation: 1,
      ring,
      shard: { seed: 7, shuffle: true, dropLast: false },
      stateSourceRank: -1,
      restarts: 0,
      resumeFromCheckpoint: false,
    },
  });
  assert.deepEqual(second.answered()?.value?.rank, 0);
});

test("a ring that shrank tells its members its own size, not the job file's world size", () => {
  const h = harness({ worldSize: 3, minWorkers: 2, maxRestarts: 2, lastCallMs: 1_000 });
  for (const [id, r] of [
    ['w-a', 0],
    ['w-b', 1],
    ['w-c', 2],
  ] as const)
    h.join(id, r);
  assert.equal(h.job.phase, 'running');
  // w-c falls silent past its lease; the other two keep beating.
  h.setNow(6_000);
  h.call('Heartbeat', { workerId: 'w-a', step: 5, epoch: 0, busySeconds: 0 });
  h.call('Heartbeat', { workerId: 'w-b', step: 5, epoch: 0, busySeconds: 0 });
  h.job.tick(6_000);
  assert.equal(h.job.phase, 'rendezvous');
  const a = h.join('w-a', 0);
  const b = h.join('w-b', 1);
  assert.equal(a.answered(), undefined, 'held for the last call');
  // What the tick timer does once the last call is over.
  h.setNow(7_000);
  (h.service as unknown as { settle(o: ReturnType<Job['tick']>): void }).settle(h.job.tick(7_000));
  assert.deepEqual([a.answered()?.value?.worldSize, b.answered()?.value?.worldSize], [2, 2]);
  assert.deepEqual([a.answered()?.value?.generation, (a.answered()?.value?.ring as unknown[]).length], [2, 2]);
});

test('a worker waiting to join a running ring with room is not answered until a ring includes it', () => {
  const h = harness({ worldSize: 3, minWorkers: 2, maxRestarts: 2, lastCallMs: 1_000 });
  h.join('w-a', 0);
  h.join('w-b', 1);
  h.setNow(1_000);
  (h.service as unknown as { settle(o: ReturnType<Job['tick']>): void }).settle(h.job.tick(1_000));
  assert.equal(h.job.phase, 'running', 'formed at minWorkers after the last call');
  const late = h.join('w-c', 2);
  // What the tick timer does every 200 ms while the ring runs: it must not hand w-c a rank of -1.
  (h.service as unknown as { settle(o: ReturnType<Job['tick']>): void }).settle(h.job.tick(1_100));
  assert.equal(late.answered(), undefined, JSON.stringify(late.answered()));
  // At the epoch boundary the ring re-forms with all three: w-c learns its rank once it is in it.
  h.call('Report', {
    workerId: 'w-a',
    step: 10,
    samples: 640,
    epochs: [{ epoch: 1, split: 'train', loss: 1, accuracy: 0.5, samplesPerSec: 1, samples: 640 }],
  });
  h.join('w-a', 0);
  h.join('w-b', 1);
  assert.deepEqual([late.answered()?.value?.rank, late.answered()?.value?.worldSize], [2, 3]);
});

test('a join that arrives past the deadline answers every held join with the shortfall', async () => {
  const h = harness({ worldSize: 3, joinTimeoutMs: 1_000 });
  const early = h.join('w-a', 0);
  h.setNow(1_000);
  const late = h.join('w-b', 1);
  const reason =
    'rendezvous timed out after 1 s: 2 of 3 workers joined (w-a at 10.0.0.2:7000 as rank 0, w-b at 10.0.0.3:7000 as rank 1); missing: rank 2';
  for (const c of [early, late])
    assert.deepEqual(c.answered(), { code: grpc.status.DEADLINE_EXCEEDED, details: reason, value: undefined });
  assert.equal(await value(h.registry, 'ringtrain_job_joins_total'), 2);
  assert.equal(await stateValue(h.registry, 'failed'), 1);
  assert.equal(await stateValue(h.registry, 'running'), 0);
  await h.service.finished.then((job) => assert.equal(job.reason, reason));
});

test('a join to a job that already failed is refused as such, not counted as a join', async () => {
  const h = harness({ worldSize: 3, joinTimeoutMs: 1_000 });
  h.join('w-a', 0);
  h.setNow(1_000);
  h.join('w-b', 1);
  assert.equal(h.job.phase, 'failed');
  h.setNow(1_200);
  const late = h.join('w-c', 2);
  assert.equal(late.answered()?.code, grpc.status.FAILED_PRECONDITION);
  assert.match(late.answered()?.details ?? '', /^job is failed: rendezvous timed out after 1 s: 2 of 3 workers joined/);
  assert.equal(await value(h.registry, 'ringtrain_job_joins_total'), 2);
  const about = h.lines().filter((l) => l.workerId === 'w-c');
  assert.deepEqual(
    about.map((l) => [l.level, String(l.msg).slice(0, 27)]),
    [[40, 'join refused: job is failed']],
  );
});

test('a finish from a worker that never joined is answered NOT_FOUND and leaves the job alone', () => {
  const h = harness();
  h.join('w-a', 0);
  const stray = h.call('Finish', { workerId: 'w-stray', ok: false, reason: 'different job config' });
  assert.deepEqual(stray.answered(), {
    code: grpc.status.NOT_FOUND,
    details: "worker w-stray is not a member of job 'svc'; its finish is ignored",
    value: undefined,
  });
  assert.equal(h.job.phase, 'rendezvous');
  assert.ok(
    h.lines().some((l) => l.level === 40 && l.workerId === 'w-stray'),
    'the ignored finish is logged as a warning',
  );
});

test('heartbeats report the job state, and a stranger is told it is not in the running generation', () => {
  const h = harness();
  h.join('w-a', 0);
  assert.deepEqual(h.call('Heartbeat', { workerId: 'w-a', step: 0, epoch: 0 }).answered()?.value, {
    state: 'RENDEZVOUS',
    reason: '',
    generation: 0,
  });
  h.join('w-b', 1);
  assert.deepEqual(h.call('Heartbeat', { workerId: 'w-b', step: 3, epoch: 0 }).answered()?.value, {
    state: 'RUNNING',
    reason: '',
    generation: 1,
  });
  assert.deepEqual(h.call('Heartbeat', { workerId: 'w-z', step: 3, epoch: 0 }).answered(), {
    code: grpc.status.NOT_FOUND,
    details: 'worker w-z is not a member of generation 1',
    value: undefined,
  });
  assert.deepEqual(h.call('Finish', { workerId: 'w-b', ok: false, reason: 'NaN loss' }).answered()?.value, {
    state: 'FAILED',
  });
  assert.deepEqual(h.call('Heartbeat', { workerId: 'w-a', step: 4, epoch: 0 }).answered()?.value, {
    state: 'FAILED',
    reason: 'worker rank 1 (w-b) failed: NaN loss',
    generation: 1,
  });
});

test('calls for another job are refused with both job names', () => {
  const h = harness();
  const c = h.call('Join', {
    job: 'other',
    workerId: 'w-a',
    address: 'h:1',
    rankHint: -1,
    configHash: HASH,
    metricsUrl: '',
  });
  assert.deepEqual(c.answered(), {
    code: grpc.status.FAILED_PRECONDITION,
    details: "this coordinator runs job 'svc', not 'other'",
    value: undefined,
  });
  assert.equal(h.job.members.length, 0);
});

test('stopping the service answers held joins instead of leaving them hanging', () => {
  const h = harness();
  const held = h.join('w-a', 0);
  h.service.stop();
  assert.deepEqual(held.answered(), {
    code: grpc.status.UNAVAILABLE,
    details: 'coordinator is shutting down',
    value: undefined,
  });
});
