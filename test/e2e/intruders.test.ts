/**
 * Bad actors against a live job: a worker without the token, with a wrong token, with another
 * model, and a replayed message of an old generation. Each is refused with a reason, and the
 * job they tried to disturb finishes normally.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { tokenMetadata } from '../../src/rpc/auth';
import { CHANNEL_OPTIONS, services } from '../../src/rpc/proto';
import { runCli, startCli, tempDir, waitFor } from './cli';

const TOKEN = 'e2e-token-1234';

function rawSend(address: string, header: Record<string, unknown>, token: string): Promise<grpc.ServiceError | null> {
  const client = new (services().collective)(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
  return new Promise((resolve) => {
    (
      client as unknown as {
        Send: (r: object, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null) => void) => void;
      }
    ).Send({ header, payload: Buffer.alloc(8) }, tokenMetadata(token), { deadline: Date.now() + 5000 }, (err) => {
      client.close();
      resolve(err);
    });
  });
}

test('intruders are refused with a reason and the job they tried to disturb finishes', async () => {
  const out = tempDir('intruders');
  // Long enough (several seconds of training, at ~100K samples/s for two workers sharing a file)
  // that the job is still running when the intruders are done and the test reads the
  // coordinator's /metrics.
  const run = startCli(['launch', '--nproc', '2', '--set', 'train.epochs=8', 'data.testLimit=1000', '--out', out], {
    timeoutMs: 180_000,
    env: { RINGTRAIN_JOIN_TOKEN: TOKEN },
  });
  let stdout = '';
  run.child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  const port = await waitFor(
    'the coordinator port',
    () => /coordinator on 127\.0\.0\.1:(\d+)/.exec(stdout)?.[1],
    60_000,
  );
  const rank1Log = path.join(out, 'logs', 'rank 1.log');
  const ring = await waitFor(
    'rank 1 to join',
    () => {
      if (!fs.existsSync(rank1Log)) return undefined;
      const line = fs
        .readFileSync(rank1Log, 'utf8')
        .split('\n')
        .find((l) => l.includes('"event":"joined"'));
      return line === undefined
        ? undefined
        : (JSON.parse(line) as { ring: { rank: number; address: string }[]; generation: number });
    },
    60_000,
  );
  const coordinator = `127.0.0.1:${port}`;
  const intruder = (env: NodeJS.ProcessEnv, extra: string[] = []) =>
    runCli(
      [
        'worker',
        '--coordinator',
        coordinator,
        '--set',
        'data.trainLimit=100',
        'data.testLimit=100',
        'cluster.connectTimeoutSec=5',
        ...extra,
      ],
      { timeoutMs: 60_000, env: { RINGTRAIN_JOIN_TOKEN: '', ...env } },
    );

  const noToken = await intruder({});
  assert.equal(noToken.code, 1);
  assert.match(noToken.stderr, /missing join token/);
  const wrongToken = await intruder({ RINGTRAIN_JOIN_TOKEN: 'not-the-token' });
  assert.equal(wrongToken.code, 1);
  assert.match(wrongToken.stderr, /wrong join token/);
  const otherModel = await intruder({ RINGTRAIN_JOIN_TOKEN: TOKEN }, ['model.hidden=[64]']);
  assert.equal(otherModel.code, 1);
  assert.match(otherModel.stderr, /runs a different job config/);

  const target = ring.ring.find((p) => p.rank === 1)!.address;
  const replay = await rawSend(
    target,
    {
      job: 'mnist-mlp',
      generation: ring.generation - 1,
      opSeq: 1,
      bucket: 0,
      step: 0,
      chunk: 0,
      fromRank: 0,
      elements: 2,
      op: 'allreduce',
    },
    TOKEN,
  );
  assert.equal(replay?.code, grpc.status.FAILED_PRECONDITION);
  assert.match(
    replay?.details ?? '',
    new RegExp(`generation ${ring.generation - 1}, this ring is generation ${ring.generation}`),
  );

  const coordLog = fs.readFileSync(path.join(out, 'logs', 'coordinator.log'), 'utf8');
  const metricsPort = (
    JSON.parse(coordLog.split('\n').find((l) => l.includes('"event":"listening"'))!) as { metricsPort: number }
  ).metricsPort;
  const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  // Each token-less intruder is refused once, at its join: it sends no failure report for a job it never joined.
  assert.match(metrics, /^ringtrain_job_refused_total\{reason="token"\} 2$/m, 'token refusals counted once each');
  assert.match(metrics, /^ringtrain_job_refused_total\{reason="config"\} 1$/m, 'the other-model worker counted');
  const r = await run.result;
  assert.equal(r.code, 0, `the job was disturbed: ${stdout}${r.stderr}`);
  assert.match(stdout, /epoch 8\/8/);
  assert.match(
    fs.readFileSync(path.join(out, 'logs', 'coordinator.log'), 'utf8'),
    /refused a Join call: missing join token/,
  );
});
