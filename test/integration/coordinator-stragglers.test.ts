import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Writable } from 'node:stream';
import { DEFAULT_JOB, type JobSpec } from '../../src/config';
import { trainingFingerprint } from '../../src/config/load';
import { startCoordinator } from '../../src/coordinator';
import { createLogger } from '../../src/observe';
import { unary } from '../../src/rpc/proto';
import { CoordinatorClient } from '../../src/worker/coordinator-client';

test('the coordinator names a rank that is persistently busier per step, in its log and its status', async () => {
  const lines: string[] = [];
  const log = createLogger({
    job: 'strag',
    role: 'coordinator',
    destination: new Writable({
      write: (c: Buffer, _e, cb) => {
        lines.push(c.toString());
        cb();
      },
    }),
  });
  const spec: JobSpec = {
    ...DEFAULT_JOB,
    name: 'strag',
    cluster: { ...DEFAULT_JOB.cluster, worldSize: 3, joinTimeoutSec: 10 },
  };
  const c = await startCoordinator({ spec, host: '127.0.0.1', port: 0, log, lingerMs: 50 });
  const clients = [0, 1, 2].map((r) => new CoordinatorClient(`127.0.0.1:${c.grpcPort}`, 'strag', `w${r}`));
  try {
    await Promise.all(
      clients.map((cl, r) =>
        cl.join(
          { address: `127.0.0.1:${1000 + r}`, rankHint: r, configHash: trainingFingerprint(spec), metricsUrl: '' },
          5000,
          5000,
        ),
      ),
    );
    // Rank 2 spends 25 ms busy per step, the others 10 ms (and would wait in communication).
    for (let beat = 1; beat <= 6; beat++) {
      const step = beat * 20;
      await Promise.all(clients.map((cl, r) => cl.heartbeat(1, step, 0, step * (r === 2 ? 0.025 : 0.01), 0)));
    }
    const status = await unary<object, { workers: { rank: number; straggler: boolean }[] }>(
      (clients[0] as unknown as { client: import('@grpc/grpc-js').Client }).client,
      'Status',
      {},
      3000,
    );
    assert.deepEqual(
      status.workers.map((w) => [w.rank, w.straggler]),
      [
        [0, false],
        [1, false],
        [2, true],
      ],
    );
    assert.ok(
      lines.some((l) => /rank 2 is a straggler: 2\.50x the median busy time per step/.test(l)),
      lines.join(''),
    );
  } finally {
    for (const cl of clients) cl.close();
    await c.stop('test over');
  }
});
