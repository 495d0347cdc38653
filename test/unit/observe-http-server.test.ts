import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Agent, request } from 'node:http';
import { Registry } from 'prom-client';
import { isRingtrainError } from '../../src/core/errors';
import { createWorkerMetrics, startHttpServer } from '../../src/observe';

interface Reply {
  status: number;
  contentType: string;
  body: string;
}

function get(url: string, agent?: Agent): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'] ?? '', body }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

/** TCP handles still open in this process (servers and sockets). */
function openTcpHandles(): string[] {
  return process.getActiveResourcesInfo().filter((r) => r.startsWith('TCP'));
}

/**
 * TCP handles left once closing ones have finished: libuv releases a closed handle on a later
 * loop turn, and a client socket notices the server's FIN only when it reads it.
 */
async function settledTcpHandles(): Promise<string[]> {
  for (let i = 0; i < 50 && openTcpHandles().length > 0; i++) await new Promise((r) => setTimeout(r, 10));
  return openTcpHandles();
}

test('serves /metrics as Prometheus text on a free port of 127.0.0.1', async () => {
  const registry = new Registry();
  createWorkerMetrics(registry, 2, 'cpu').samplesTotal.inc(32);
  const server = await startHttpServer({ host: '127.0.0.1', port: 0, registry });
  try {
    assert.ok(server.port > 0);
    assert.equal(server.url, `http://127.0.0.1:${server.port}`);
    const reply = await get(`${server.url}/metrics`);
    assert.equal(reply.status, 200);
    assert.equal(reply.contentType, 'text/plain; version=0.0.4; charset=utf-8');
    assert.match(reply.body, /^ringtrain_samples_total\{rank="2"\} 32$/m);
  } finally {
    await server.close();
  }
});

test('/healthz answers 200 when healthy and 503 with the detail when not', async () => {
  let healthy = true;
  const server = await startHttpServer({
    host: '127.0.0.1',
    port: 0,
    registry: new Registry(),
    health: () =>
      healthy ? { ok: true, detail: 'training' } : { ok: false, detail: 'coordinator unreachable for 30s' },
  });
  try {
    const up = await get(`${server.url}/healthz`);
    assert.equal(up.status, 200);
    assert.deepEqual(JSON.parse(up.body), { ok: true, detail: 'training' });
    healthy = false;
    const down = await get(`${server.url}/healthz`);
    assert.equal(down.status, 503);
    assert.equal(down.contentType, 'application/json');
    assert.deepEqual(JSON.parse(down.body), { ok: false, detail: 'coordinator unreachable for 30s' });
  } finally {
    await server.close();
  }
});

test('unknown paths get 404 and extra routes are served', async () => {
  const server = await startHttpServer({
    host: '127.0.0.1',
    port: 0,
    registry: new Registry(),
    routes: { '/status': (_req, res) => res.end('{"state":"running"}') },
  });
  try {
    assert.equal((await get(`${server.url}/nope`)).status, 404);
    const status = await get(`${server.url}/status?verbose=1`);
    assert.equal(status.status, 200);
    assert.equal(status.body, '{"state":"running"}');
  } finally {
    await server.close();
  }
});

test('a second server on a taken port fails with ADDRESS_IN_USE naming the port', async () => {
  const first = await startHttpServer({ host: '127.0.0.1', port: 0, registry: new Registry() });
  try {
    await assert.rejects(
      startHttpServer({ host: '127.0.0.1', port: first.port, registry: new Registry() }),
      (err: unknown) => {
        assert.ok(isRingtrainError(err));
        assert.equal(err.code, 'ADDRESS_IN_USE');
        assert.equal(
          err.message,
          `metrics port ${first.port} on 127.0.0.1 is already in use: pick another with ` +
            '--set observe.metricsPort=... or 0 for any free port',
        );
        return true;
      },
    );
  } finally {
    await first.close();
  }
});

test('close() drops idle keep-alive connections and leaves no TCP handle open', async () => {
  // Also shows that the earlier tests in this file left nothing open.
  assert.deepEqual(await settledTcpHandles(), []);
  const agent = new Agent({ keepAlive: true });
  const server = await startHttpServer({ host: '127.0.0.1', port: 0, registry: new Registry() });
  assert.equal((await get(`${server.url}/metrics`, agent)).status, 200);
  assert.ok(openTcpHandles().length >= 2, 'expected the server and an idle keep-alive socket');
  const started = Date.now();
  await server.close();
  await server.close();
  assert.ok(Date.now() - started < 1000, `close took ${Date.now() - started} ms`);
  assert.deepEqual(await settledTcpHandles(), []);
  agent.destroy();
});

test('close() does not wait for a request that never gets an answer', async () => {
  let arrived!: () => void;
  const requestArrived = new Promise<void>((r) => (arrived = r));
  const server = await startHttpServer({
    host: '127.0.0.1',
    port: 0,
    registry: new Registry(),
    routes: { '/hang': () => arrived() },
  });
  const pending = get(`${server.url}/hang`);
  await requestArrived;
  const started = Date.now();
  // server.close() alone would wait for this in-flight request forever.
  await server.close();
  assert.ok(Date.now() - started < 1000, `close took ${Date.now() - started} ms`);
  await assert.rejects(pending, /socket hang up/);
  assert.deepEqual(await settledTcpHandles(), []);
});
