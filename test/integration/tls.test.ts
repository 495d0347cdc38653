/**
 * TLS and mTLS over real sockets, with certificates made by openssl for this test: the
 * coordinator and both ring transports work over TLS, and refuse a peer whose certificate
 * another CA signed (or, with mTLS, a client without one).
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { Communicator, createRingEndpoint, type TransportKind } from '../../src/allreduce';
import { DEFAULT_JOB, type JobSpec } from '../../src/config';
import { trainingFingerprint } from '../../src/config/load';
import type { TlsFiles } from '../../src/config/tls-files';
import { startCoordinator } from '../../src/coordinator';
import { createLogger } from '../../src/observe';
import { CoordinatorClient } from '../../src/worker/coordinator-client';

/** A CA and one certificate it signed for 127.0.0.1 (server and client use). */
function makePki(dir: string, name: string): TlsFiles {
  const p = (f: string): string => path.join(dir, `${name}-${f}`);
  const run = (args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore' });
  run([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    p('ca.key'),
    '-out',
    p('ca.pem'),
    '-days',
    '2',
    '-subj',
    `/CN=${name} test CA`,
  ]);
  run([
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    p('key.pem'),
    '-out',
    p('csr.pem'),
    '-subj',
    '/CN=127.0.0.1',
  ]);
  fs.writeFileSync(p('ext.cnf'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n');
  run([
    'x509',
    '-req',
    '-in',
    p('csr.pem'),
    '-CA',
    p('ca.pem'),
    '-CAkey',
    p('ca.key'),
    '-CAcreateserial',
    '-out',
    p('cert.pem'),
    '-days',
    '2',
    '-extfile',
    p('ext.cnf'),
  ]);
  return {
    cert: fs.readFileSync(p('cert.pem')),
    key: fs.readFileSync(p('key.pem')),
    ca: fs.readFileSync(p('ca.pem')),
    mutual: false,
  };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-tls-'));
const good = makePki(dir, 'good');
const rogue = makePki(dir, 'rogue');
const quiet = () =>
  createLogger({ job: 'tls', role: 'coordinator', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

test('the coordinator serves over TLS: a client trusting its CA joins, a plain or untrusting client cannot', async () => {
  const spec: JobSpec = {
    ...DEFAULT_JOB,
    name: 'tls',
    cluster: { ...DEFAULT_JOB.cluster, worldSize: 1, joinTimeoutSec: 5 },
  };
  const c = await startCoordinator({ spec, host: '127.0.0.1', port: 0, log: quiet(), tls: good, lingerMs: 50 });
  const addr = `127.0.0.1:${c.grpcPort}`;
  const req = { address: '127.0.0.1:1', rankHint: 0, configHash: trainingFingerprint(spec), metricsUrl: '' };
  const plain = new CoordinatorClient(addr, 'tls', 'plain');
  const untrusting = new CoordinatorClient(addr, 'tls', 'rogue', undefined, rogue);
  const ok = new CoordinatorClient(addr, 'tls', 'ok', undefined, good);
  try {
    await assert.rejects(plain.join(req, 1500, 1000), /did not answer|unreachable/);
    await assert.rejects(untrusting.join(req, 1500, 1000), /did not answer|unreachable/);
    const joined = await ok.join(req, 3000, 3000);
    assert.equal(joined.generation, 1);
    await ok.finish(true, '');
    assert.equal((await c.done).ok, true);
  } finally {
    for (const cl of [plain, untrusting, ok]) cl.close();
    await c.stop('test over');
  }
});

for (const kind of ['grpc', 'tcp'] as TransportKind[]) {
  test(`${kind} ring over mTLS sums correctly, and a peer with another CA's certificate is refused`, async () => {
    const mutual = { ...good, mutual: true };
    const eps = [0, 1, 2].map(() => createRingEndpoint(kind, 'job', 3000, { tls: mutual }));
    try {
      const ports = await Promise.all(eps.map((e) => e.listen('127.0.0.1', 0)));
      const addrs = ports.map((p) => `127.0.0.1:${p}`);
      const ts = await Promise.all(
        eps.map((e, rank) => e.attach({ job: 'job', generation: 1, rank, worldSize: 3 }, addrs)),
      );
      const bufs = ts.map((_, r) => new Float32Array(10_001).fill(r + 1));
      await Promise.all(ts.map((t, r) => new Communicator(t).allReduceSum(bufs[r] as Float32Array)));
      for (const b of bufs) assert.deepEqual(Array.from(new Set(b)), [6]);
    } finally {
      await Promise.all(eps.map((e) => e.close()));
    }
    // A rogue rank 1 (other CA) in a 2-ring with a good rank 0: the ring never carries data.
    const a = createRingEndpoint(kind, 'job', 2000, { tls: mutual });
    const b = createRingEndpoint(kind, 'job', 2000, { tls: { ...rogue, mutual: true } });
    try {
      const addrs = [`127.0.0.1:${await a.listen('127.0.0.1', 0)}`, `127.0.0.1:${await b.listen('127.0.0.1', 0)}`];
      const attached = await Promise.allSettled([
        a.attach({ job: 'job', generation: 1, rank: 0, worldSize: 2 }, addrs),
        b.attach({ job: 'job', generation: 1, rank: 1, worldSize: 2 }, addrs),
      ]);
      const ts = attached.map((r) => (r.status === 'fulfilled' ? r.value : undefined));
      const results = await Promise.allSettled(
        ts.map((t) =>
          t === undefined
            ? Promise.reject(new Error('not attached'))
            : new Communicator(t).allReduceSum(new Float32Array(8)),
        ),
      );
      assert.ok(
        results.every((r) => r.status === 'rejected'),
        'no all-reduce may succeed across CAs',
      );
    } finally {
      await a.close();
      await b.close();
    }
  });
}

test.after(() => fs.rmSync(dir, { recursive: true, force: true }));
