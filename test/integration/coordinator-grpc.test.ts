import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as net from 'node:net';
import { DEFAULT_JOB, type JobSpec } from '../../src/config';
import { trainingFingerprint } from '../../src/config/load';
import { RingtrainError } from '../../src/core/errors';
import { startCoordinator, type RunningCoordinator } from '../../src/coordinator/run-coordinator';
import { createLogger, type Logger } from '../../src/observe/logger';
import {
  CoordinatorClient,
  INITIAL_BACKOFF_MS,
  MAX_BACKOFF_MS,
  type JoinResult,
} from '../../src/worker/coordinator-client';
import { memoryDestination } from '../unit/support';

/** A coordinator logger whose lines the test can read back. */
function memoryLog(): { log: Logger; lines: () => Record<string, unknown>[] } {
  const mem = memoryDestination();
  return { log: createLogger({ job: 'coord-test', role: 'coordinator', destination: mem.stream }), lines: mem.lines };
}

function testSpec(cluster: Partial<JobSpec['cluster']> = {}): JobSpec {
  return {
    ...DEFAULT_JOB,
    name: 'coord-test',
    cluster: { ...DEFAULT_JOB.cluster, worldSize: 2, joinTimeoutSec: 2, connectTimeoutSec: 2, ...cluster },
    observe: { ...DEFAULT_JOB.observe, metricsHost: '127.0.0.1', metricsPort: 0 },
  };
}

interface Harness {
  coord: RunningCoordinator;
  spec: JobSpec;
  lines: () => Record<string, unknown>[];
  address: string;
  clients: CoordinatorClient[];
  client(workerId: string): CoordinatorClient;
  /** Closes every client and stops the coordinator if the test left it running. */
  close(): Promise<void>;
}

async function harness(spec: JobSpec, lingerMs = 100, port = 0): Promise<Harness> {
  const { log, lines } = memoryLog();
  const coord = await startCoordinator({ spec, host: '127.0.0.1', port, log, lingerMs });
  const address = `127.0.0.1:${coord.grpcPort}`;
  const clients: CoordinatorClient[] = [];
  return {
    coord,
    spec,
    lines,
    address,
    clients,
    client(workerId) {
      const c = new CoordinatorClient(address, spec.name, workerId);
      clients.push(c);
      return c;
    },
    async close() {
      for (const c of clients) c.close();
      await coord.stop('test over');
    },
  };
}

/** Resolves to the rejection of `p`; fails the test if `p` resolves. */
async function rejection(p: Promise<unknown>): Promise<RingtrainError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof RingtrainError, `expected a RingtrainError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a rejection');
}

async function scrape(metricsPort: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  assert.equal(res.status, 200);
  return res.text();
}

function sample(body: string, series: string): number | undefined {
  const line = body.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** A port on 127.0.0.1 that was free a moment ago and now has nothing listening. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test(
  'two workers joining concurrently share one ring, heartbeat while running, and finish the job',
  { timeout: 20_000 },
  async () => {
    const spec = testSpec();
    const h = await harness(spec, 500);
    try {
      const hash = trainingFingerprint(spec);
      // Hints opposite to the worker id order, so honouring them is visible.
      const a = h.client('w-a');
      const b = h.client('w-b');
      const [ja, jb] = await Promise.all([
        a.join(
          { address: '127.0.0.1:41001', rankHint: 1, configHash: hash, metricsUrl: 'http://127.0.0.1:9001/metrics' },
          5_000,
          2_000,
        ),
        b.join(
          { address: '127.0.0.1:41000', rankHint: 0, configHash: hash, metricsUrl: 'http://127.0.0.1:9000/metrics' },
          5_000,
          2_000,
        ),
      ]);
      const ring = [
        { rank: 0, workerId: 'w-b', address: '127.0.0.1:41000' },
        { rank: 1, workerId: 'w-a', address: '127.0.0.1:41001' },
      ];
      const expected = (rank: number): JoinResult => ({
        rank,
        worldSize: 2,
        generation: 1,
        ring,
        shard: { seed: spec.seed, shuffle: true, dropLast: false },
        stateSourceRank: -1,
        restarts: 0,
        resumeFromCheckpoint: false,
      });
      assert.deepEqual(ja, expected(1));
      assert.deepEqual(jb, expected(0));

      assert.deepEqual(await a.heartbeat(1, 5, 0), { state: 'RUNNING', reason: '', generation: 1 });
      assert.deepEqual(await b.heartbeat(1, 7, 1), { state: 'RUNNING', reason: '', generation: 1 });
      await b.report(1, 7, 448, [
        { epoch: 0, split: 'train', loss: 0.5, accuracy: 0.9, samplesPerSec: 1000, samples: 448 },
      ]);

      const running = await scrape(h.coord.metricsPort);
      assert.equal(sample(running, 'ringtrain_job_state{state="running"}'), 1);
      assert.equal(sample(running, 'ringtrain_job_workers'), 2);
      assert.equal(sample(running, 'ringtrain_job_generation'), 1);
      assert.equal(sample(running, 'ringtrain_job_step'), 7);
      assert.equal(sample(running, 'ringtrain_job_samples_total'), 448);
      assert.equal(sample(running, 'ringtrain_job_joins_total'), 2);

      await a.finish(true, '');
      assert.equal(h.coord.service.job.phase, 'running', 'one finished worker does not end the job');
      await b.finish(true, '');
      // The coordinator lingers so workers polling heartbeats learn the verdict.
      assert.deepEqual(await a.heartbeat(1, 9, 1), { state: 'DONE', reason: '', generation: 1 });
      const finished = await scrape(h.coord.metricsPort);
      assert.equal(sample(finished, 'ringtrain_job_state{state="done"}'), 1);
      assert.equal(sample(finished, 'ringtrain_job_state{state="running"}'), 0);
      assert.equal(sample(finished, 'ringtrain_job_state{state="failed"}'), 0);
      assert.equal(sample(finished, 'ringtrain_job_workers'), 0, 'no worker holds a lease once the job is done');
      // A worker restarted after the job finished (a kill in its last moments) is told so as
      // JOB_DONE, which the worker command answers with exit 0, not as a failure of the job.
      const late = await rejection(
        h
          .client('w-late')
          .join(
            { address: '127.0.0.1:41002', rankHint: -1, configHash: hash, metricsUrl: 'http://127.0.0.1:9002/metrics' },
            5_000,
            2_000,
          ),
      );
      assert.ok(late instanceof RingtrainError && late.code === 'JOB_DONE', String(late));
      assert.match(late.message, /job is done, so there is nothing to join/);

      assert.deepEqual(await h.coord.done, { ok: true, reason: '', generation: 1 });
      const messages = h.lines().map((l) => l.msg);
      assert.ok(messages.includes('ring formed: generation 1, 2 workers'), messages.join('\n'));
      assert.ok(messages.includes('job done: every worker finished'), messages.join('\n'));
    } finally {
      await h.close();
    }
  },
);

test('a rendezvous missing one worker times out the waiting join and fails the job', { timeout: 20_000 }, async () => {
  const spec = testSpec({ joinTimeoutSec: 2 });
  const started = Date.now();
  const h = await harness(spec);
  try {
    const only = h.client('w-only');
    const err = await rejection(
      only.join(
        { address: '127.0.0.1:42000', rankHint: 0, configHash: trainingFingerprint(spec), metricsUrl: '' },
        5_000,
        2_000,
      ),
    );
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 1_800 && elapsed < 4_000, `join answered after ${elapsed} ms, expected ~2000`);
    assert.equal(err.code, 'TIMEOUT');
    assert.ok(err.message.includes('missing: rank 1'), err.message);
    assert.ok(err.message.includes('w-only at 127.0.0.1:42000 as rank 0'), err.message);

    const result = await h.coord.done;
    assert.equal(result.ok, false);
    assert.equal(result.generation, 0);
    assert.equal(
      result.reason,
      'rendezvous timed out after 2 s: 1 of 2 workers joined (w-only at 127.0.0.1:42000 as rank 0); missing: rank 1',
    );
    const failed = h.lines().find((l) => l.event === 'job-failed');
    assert.equal(failed?.reason, result.reason);
  } finally {
    await h.close();
  }
});

test(
  'a worker with a different job config is refused and cannot fail the job of the others',
  { timeout: 20_000 },
  async () => {
    const spec = testSpec();
    const h = await harness(spec);
    try {
      const hash = trainingFingerprint(spec);
      const stray = h.client('w-stray');
      const err = await rejection(
        stray.join(
          { address: '127.0.0.1:43009', rankHint: -1, configHash: 'f'.repeat(64), metricsUrl: '' },
          5_000,
          2_000,
        ),
      );
      assert.equal(err.code, 'JOB_FAILED');
      assert.match(
        err.message,
        /worker w-stray runs a different job config \(hash ffffffffffff, coordinator has [0-9a-f]{12}\)/,
      );
      assert.ok(err.message.includes(hash.slice(0, 12)), err.message);
      // run-worker reports its own failure after a refused join; the job must shrug it off.
      const ignored = await rejection(stray.finish(false, err.message));
      assert.match(ignored.message, /w-stray is not a member/);
      assert.equal(h.coord.service.job.phase, 'rendezvous');

      const wrongJob = new CoordinatorClient(h.address, 'other-job', 'w-x');
      h.clients.push(wrongJob);
      const wrong = await rejection(
        wrongJob.join({ address: '127.0.0.1:43008', rankHint: -1, configHash: hash, metricsUrl: '' }, 5_000, 2_000),
      );
      assert.match(wrong.message, /this coordinator runs job 'coord-test', not 'other-job'/);

      const joins = await Promise.all(
        ['w-1', 'w-2'].map((id, i) =>
          h
            .client(id)
            .join({ address: `127.0.0.1:4300${i}`, rankHint: -1, configHash: hash, metricsUrl: '' }, 5_000, 2_000),
        ),
      );
      assert.deepEqual(
        joins.map((j) => [j.rank, j.generation]),
        [
          [0, 1],
          [1, 1],
        ],
      );
      const refusedLine = h.lines().find((l) => typeof l.msg === 'string' && l.msg.startsWith('join refused:'));
      assert.equal(refusedLine?.workerId, 'w-stray');
    } finally {
      await h.close();
    }
  },
);

test(
  'a member that stops heartbeating fails the job, and its peer learns why from its heartbeat',
  { timeout: 20_000 },
  async () => {
    const spec = testSpec({ leaseTimeoutSec: 0.6 });
    const h = await harness(spec);
    try {
      const hash = trainingFingerprint(spec);
      const [alive, silent] = [h.client('w-alive'), h.client('w-silent')];
      await Promise.all([
        alive.join({ address: '127.0.0.1:44000', rankHint: 0, configHash: hash, metricsUrl: '' }, 5_000, 2_000),
        silent.join({ address: '127.0.0.1:44001', rankHint: 1, configHash: hash, metricsUrl: '' }, 5_000, 2_000),
      ]);
      let beat = await alive.heartbeat(1, 1, 0);
      const deadline = Date.now() + 5_000;
      while (beat.state === 'RUNNING' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        beat = await alive.heartbeat(1, 1, 0);
      }
      assert.equal(beat.state, 'FAILED');
      assert.match(
        beat.reason,
        /^worker rank 1 \(w-silent at 127\.0\.0\.1:44001\) sent no heartbeat for \d+\.\d s: it died or is stuck$/,
      );
      const result = await h.coord.done;
      assert.equal(result.ok, false);
      assert.equal(result.reason, beat.reason);
    } finally {
      await h.close();
    }
  },
);

test(
  'a coordinator that is not listening makes join fail as UNAVAILABLE after retrying until the connect timeout',
  { timeout: 15_000 },
  async () => {
    const port = await closedPort();
    const client = new CoordinatorClient(`127.0.0.1:${port}`, 'coord-test', 'w-lonely');
    try {
      const retries: { attempt: number; delayMs: number; error: string }[] = [];
      const started = Date.now();
      const err = await rejection(
        client.join(
          { address: '127.0.0.1:45000', rankHint: 0, configHash: 'x', metricsUrl: '' },
          1_500,
          1_000,
          (attempt, delayMs, error) => retries.push({ attempt, delayMs, error }),
        ),
      );
      const elapsed = Date.now() - started;
      assert.equal(err.code, 'UNAVAILABLE');
      assert.ok(err.message.includes(`coordinator at 127.0.0.1:${port} did not answer for 1.5 s`), err.message);
      assert.ok(retries.length >= 2, `expected at least 2 retries, got ${retries.length}`);
      assert.deepEqual(
        retries.map((r) => r.attempt),
        retries.map((_, i) => i + 1),
      );
      assert.equal(retries[0]?.delayMs, INITIAL_BACKOFF_MS);
      assert.ok(elapsed >= 1_400 && elapsed < 5_000, `gave up after ${elapsed} ms, expected ~1500`);
    } finally {
      client.close();
    }
  },
);

test(
  'a worker that starts before its coordinator joins once the coordinator comes up',
  { timeout: 25_000 },
  async () => {
    const port = await closedPort();
    // The rendezvous deadline must outlast the worker's redial after the coordinator comes up.
    const spec = testSpec({ worldSize: 1, joinTimeoutSec: 15 });
    const client = new CoordinatorClient(`127.0.0.1:${port}`, spec.name, 'w-early');
    let h: Harness | undefined;
    try {
      let retries = 0;
      const joining = client.join(
        { address: '127.0.0.1:46000', rankHint: -1, configHash: trainingFingerprint(spec), metricsUrl: '' },
        15_000,
        15_000,
        () => {
          retries += 1;
        },
      );
      await new Promise((r) => setTimeout(r, 2_500));
      const coordinatorUpAt = Date.now();
      h = await harness(spec, 100, port);
      const joined = await joining;
      const joinedAfter = Date.now() - coordinatorUpAt;
      assert.deepEqual(joined.ring, [{ rank: 0, workerId: 'w-early', address: '127.0.0.1:46000' }]);
      assert.ok(retries >= 3, `expected retries while the coordinator was down, got ${retries}`);
      // Both the channel's redial and the join retry back off to at most MAX_BACKOFF_MS (+20% jitter).
      assert.ok(joinedAfter < 2 * MAX_BACKOFF_MS + 1_000, `joined ${joinedAfter} ms after the coordinator came up`);
      await client.finish(true, '');
      assert.equal((await h.coord.done).ok, true);
    } finally {
      client.close();
      await h?.close();
    }
  },
);
