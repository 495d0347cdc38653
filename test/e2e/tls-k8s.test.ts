/**
 * The TLS overlay, run for real: certificates made by openssl in the layout cert-manager writes
 * its Secrets in (tls.crt, tls.key, ca.crt), for the names the overlay's Certificates list, and a
 * coordinator and two workers started with the job file and the security options the overlay
 * renders (only the mount point, the ports and the training length changed for a test on
 * loopback). The job trains over mTLS; a worker without a certificate cannot join.
 *
 * The certificates also name localhost: here the names Kubernetes' DNS would resolve
 * (ringtrain-coordinator, ringtrain-workers-0-i.ringtrain) resolve nowhere, so the processes dial
 * localhost and the TLS check holds them to that name instead.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { find, podOf } from '../integration/deploy-k8s-objects';
import { render } from '../integration/deploy-k8s-objects';
import { dig } from '../integration/deploy-tools';
import { runCli, startCli, tempDir, waitFor } from './cli';

const MOUNT = '/etc/ringtrain/tls';

/** openssl, as cert-manager's Certificates ask: ECDSA P-256, server and client use, signed by the job's CA. */
function issue(dir: string, ca: { key: string; crt: string }, role: string, dnsNames: string[]): string {
  const out = path.join(dir, role);
  fs.mkdirSync(out);
  const run = (args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore', timeout: 20_000 });
  run([
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    path.join(out, 'tls.key'),
    '-out',
    path.join(out, 'req.csr'),
    '-subj',
    `/CN=${role}`,
  ]);
  const ext = path.join(out, 'ext.cnf');
  fs.writeFileSync(
    ext,
    `subjectAltName=${[...dnsNames, 'localhost'].map((n) => `DNS:${n}`).join(',')}\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n`,
  );
  run([
    'x509',
    '-req',
    '-in',
    path.join(out, 'req.csr'),
    '-CA',
    ca.crt,
    '-CAkey',
    ca.key,
    '-CAcreateserial',
    '-out',
    path.join(out, 'tls.crt'),
    '-days',
    '2',
    '-extfile',
    ext,
  ]);
  fs.copyFileSync(ca.crt, path.join(out, 'ca.crt'));
  return out;
}

function makeCa(dir: string): { key: string; crt: string } {
  const key = path.join(dir, 'ca.key');
  const crt = path.join(dir, 'ca.crt');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      crt,
      '-days',
      '2',
      '-subj',
      '/CN=ringtrain-ca',
    ],
    { stdio: 'ignore', timeout: 20_000 },
  );
  return { key, crt };
}

/** The `--set security...` arguments the overlay gives a role, pointed at `dir` instead of the mount. */
function securitySets(args: string[], dir: string): string[] {
  const at = args.indexOf('--set');
  assert.ok(at >= 0, `no --set in ${args.join(' ')}`);
  return args.slice(at).map((a) => a.split(MOUNT).join(dir));
}

test(
  'a two-worker job trains over mTLS with openssl certificates laid out as the TLS overlay mounts them',
  { timeout: 240_000 },
  async () => {
    const objects = render('deploy/k8s/overlays/tls');
    const dir = tempDir('tls-k8s');
    const ca = makeCa(dir);
    const certs = (name: string): string[] => dig(find(objects, 'Certificate', name), 'spec', 'dnsNames') as string[];
    const coordinatorDir = issue(dir, ca, 'coordinator', certs('ringtrain-coordinator'));
    const workersDir = issue(dir, ca, 'workers', certs('ringtrain-workers'));
    const jobFile = path.join(dir, 'job.yaml');
    fs.writeFileSync(jobFile, String(dig(find(objects, 'ConfigMap', 'ringtrain-job'), 'data', 'job.yaml')));
    // Loopback and free ports, a short run; everything else is the overlay's job file.
    const local = [
      'observe.metricsHost=127.0.0.1',
      'observe.metricsPort=0',
      'observe.workerMetricsPort=0',
      'cluster.ringPort=0',
      'train.epochs=1',
      'data.trainLimit=2000',
      'data.testLimit=200',
      'cluster.connectTimeoutSec=60',
      'cluster.joinTimeoutSec=60',
    ];
    const env = {
      RINGTRAIN_JOIN_TOKEN: randomBytes(16).toString('hex'),
      RINGTRAIN_COORDINATOR: undefined,
      RINGTRAIN_SET: undefined,
    };
    const coordinatorArgs = podOf(objects, 'ringtrain-coordinator').containers[0]?.args as string[];
    const workerArgs = podOf(objects, 'ringtrain-worker').containers[0]?.args as string[];
    const coordinator = startCli(
      [
        'coordinator',
        jobFile,
        '--host',
        'localhost',
        '--port',
        '0',
        ...securitySets(coordinatorArgs, coordinatorDir),
        ...local,
      ],
      { timeoutMs: 200_000, env },
    );
    let stderr = '';
    coordinator.child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      const port = await waitFor(
        'the coordinator to listen',
        () => /"event":"listening","grpcPort":(\d+)/.exec(stderr)?.[1],
        30_000,
      );
      const workerEnv = { ...env, RINGTRAIN_COORDINATOR: `localhost:${port}` };
      // Without a certificate, TLS stops the worker before the join token is even read.
      const plain = await runCli(
        [
          'worker',
          jobFile,
          '--rank',
          '0',
          '--host',
          'localhost',
          '--out',
          path.join(dir, 'plain'),
          '--set',
          ...local,
          'cluster.connectTimeoutSec=3',
        ],
        { timeoutMs: 60_000, env: workerEnv },
      );
      assert.equal(plain.code, 1, plain.stderr);
      assert.match(plain.stderr, /not reachable|did not answer|unreachable/);
      const workers = [0, 1].map((rank) =>
        runCli(
          [
            'worker',
            jobFile,
            '--rank',
            String(rank),
            '--host',
            'localhost',
            '--out',
            path.join(dir, 'run'),
            ...securitySets(workerArgs, workersDir),
            ...local,
          ],
          { timeoutMs: 200_000, env: workerEnv },
        ),
      );
      const results = await Promise.all(workers);
      for (const [rank, r] of results.entries()) {
        assert.equal(r.code, 0, `rank ${rank}: ${r.stderr.slice(-2000)}`);
        assert.match(r.stderr, /"event":"finished"/);
      }
      assert.equal((await coordinator.result).code, 0, stderr.slice(-2000));
      const metrics = fs
        .readFileSync(path.join(dir, 'run', 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { split: string; accuracy: number });
      const val = metrics.find((m) => m.split === 'val');
      assert.ok(val !== undefined && val.accuracy > 0.7, `val accuracy ${val?.accuracy}`);
    } finally {
      coordinator.child.kill('SIGTERM');
      await coordinator.result;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);
