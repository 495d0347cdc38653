import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Communicator, createRingEndpoint, type TransportKind } from '../../src/allreduce';
import { isRingtrainError } from '../../src/core/errors';
import { DEFAULT_JOB, type JobSpec } from '../../src/config';
import { trainingFingerprint } from '../../src/config/load';
import { startCoordinator } from '../../src/coordinator';
import { createLogger } from '../../src/observe';
import { CoordinatorClient } from '../../src/worker/coordinator-client';
import { Writable } from 'node:stream';

const quietLog = () =>
  createLogger({ job: 'auth', role: 'coordinator', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

test('the coordinator refuses calls without the join token or with a wrong one, and admits the right one', async () => {
  const spec: JobSpec = {
    ...DEFAULT_JOB,
    name: 'auth',
    cluster: { ...DEFAULT_JOB.cluster, worldSize: 1, joinTimeoutSec: 5 },
  };
  const c = await startCoordinator({
    spec,
    host: '127.0.0.1',
    port: 0,
    log: quietLog(),
    token: 's3cret',
    lingerMs: 50,
  });
  const addr = `127.0.0.1:${c.grpcPort}`;
  const req = { address: '127.0.0.1:1', rankHint: 0, configHash: trainingFingerprint(spec), metricsUrl: '' };
  const clients = [
    new CoordinatorClient(addr, 'auth', 'w-none'),
    new CoordinatorClient(addr, 'auth', 'w-wrong', 'guess'),
    new CoordinatorClient(addr, 'auth', 'w-ok', 's3cret'),
  ];
  try {
    await assert.rejects(
      clients[0]!.join(req, 2000, 2000),
      (e: unknown) => isRingtrainError(e) && /missing join token/.test(e.message),
    );
    await assert.rejects(
      clients[1]!.join(req, 2000, 2000),
      (e: unknown) => isRingtrainError(e) && /wrong join token/.test(e.message),
    );
    const joined = await clients[2]!.join(req, 2000, 2000);
    assert.equal(joined.rank, 0);
    assert.equal(joined.generation, 1);
    await clients[2]!.finish(true, '');
    const result = await c.done;
    assert.equal(result.ok, true, 'the refused calls must not have disturbed the job');
  } finally {
    for (const cl of clients) cl.close();
    await c.stop('test over');
  }
});

for (const kind of ['grpc', 'tcp'] as TransportKind[]) {
  test(`${kind} ring: a peer with the wrong token is refused and the message says why`, async () => {
    const refusals: string[] = [];
    const a = createRingEndpoint(kind, 'job', 2000, { token: 'right', onRefused: (r) => refusals.push(r) });
    const b = createRingEndpoint(kind, 'job', 2000, { token: 'wrong', onRefused: (r) => refusals.push(r) });
    try {
      const ports = [await a.listen('127.0.0.1', 0), await b.listen('127.0.0.1', 0)];
      const addrs = ports.map((p) => `127.0.0.1:${p}`);
      const attached = await Promise.allSettled([
        a.attach({ job: 'job', generation: 1, rank: 0, worldSize: 2 }, addrs),
        b.attach({ job: 'job', generation: 1, rank: 1, worldSize: 2 }, addrs),
      ]);
      if (kind === 'tcp') {
        // Each side dials the other with its own token; both HELLOs are refused.
        assert.ok(
          attached.some((r) => r.status === 'rejected' && /wrong join token/.test((r.reason as Error).message)),
          JSON.stringify(attached.map((r) => r.status)),
        );
      } else {
        const [ta, tb] = attached.map((r) => (r.status === 'fulfilled' ? r.value : undefined));
        const results = await Promise.allSettled([
          new Communicator(ta!).allReduceSum(new Float32Array(4)),
          new Communicator(tb!).allReduceSum(new Float32Array(4)),
        ]);
        assert.ok(
          results.some((r) => r.status === 'rejected' && /wrong join token/.test((r.reason as Error).message)),
          results.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : 'ok')).join(' | '),
        );
      }
      assert.ok(
        refusals.some((r) => /wrong join token/.test(r)),
        `refusals seen: ${refusals.join('; ')}`,
      );
    } finally {
      await a.close();
      await b.close();
    }
  });
}
