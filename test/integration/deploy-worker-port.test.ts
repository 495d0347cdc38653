/**
 * Kubernetes probes and scrapes a fixed port on every worker pod (9100 in deploy/k8s), and its
 * NetworkPolicy opens only a declared ring port (29500), so a worker must bind
 * observe.workerMetricsPort and cluster.ringPort when they are set, rather than any free port.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { runCli, startCli, tempDir, waitFor } from '../e2e/cli';

/** A port on 127.0.0.1 that was free a moment ago. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test(
  'a worker binds its /metrics server to observe.workerMetricsPort and its ring server to cluster.ringPort when they are set',
  { timeout: 120_000 },
  async () => {
    const port = await freePort();
    const ringPort = await freePort();
    const out = tempDir('worker-port');
    const run = startCli(
      [
        'launch',
        '--nproc',
        '1',
        '--set',
        `observe.workerMetricsPort=${port}`,
        `cluster.ringPort=${ringPort}`,
        'train.epochs=1',
        'data.trainLimit=2000',
        'data.testLimit=200',
        '--out',
        out,
      ],
      { timeoutMs: 90_000 },
    );
    try {
      const log = path.join(out, 'logs', 'rank 0.log');
      const url = await waitFor(
        'rank 0 to log its metrics URL',
        () => {
          if (!fs.existsSync(log)) return undefined;
          return /"event":"joined".*?"metricsUrl":"([^"]+)"/.exec(fs.readFileSync(log, 'utf8'))?.[1];
        },
        60_000,
      );
      assert.equal(new URL(url).port, String(port), `the worker chose ${url}, not port ${port}`);
      const ring = /"event":"joined","ring":\[\{[^\]]*"address":"([^"]+)"/.exec(fs.readFileSync(log, 'utf8'))?.[1];
      assert.equal(ring, `127.0.0.1:${ringPort}`, 'the ring address the worker registered');
      const result = await run.result;
      assert.equal(result.code, 0, result.stdout + result.stderr);
    } finally {
      run.child.kill('SIGTERM');
      await run.result;
      fs.rmSync(out, { recursive: true, force: true });
    }
  },
);

test(
  'launch refuses a fixed cluster.ringPort for several workers on one host, naming the fix',
  { timeout: 60_000 },
  async () => {
    const r = await runCli(['launch', '--nproc', '2', '--set', 'cluster.ringPort=29500'], { timeoutMs: 30_000 });
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(
      r.stderr,
      /cluster\.ringPort=29500 gives every worker the same port, but launch starts 2 on this host: set cluster\.ringPort=0/,
    );
  },
);
