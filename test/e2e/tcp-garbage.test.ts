/**
 * Garbage on a tcp-transport ring port during a launched job: the connection never proved the
 * join token, so it is dropped and counted, and the job finishes.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { startCli, tempDir, waitFor } from './cli';
import { logEvents, sendGarbage } from './fault-tools';

test("random bytes sent to every worker's tcp ring port are dropped and counted; the job finishes", async () => {
  const out = tempDir('tcp-garbage');
  const run = startCli(
    [
      'launch',
      '--nproc',
      '2',
      '--set',
      'cluster.transport=tcp',
      'train.epochs=12',
      'data.trainLimit=12000',
      'data.testLimit=500',
      '--out',
      out,
    ],
    { timeoutMs: 180_000 },
  );
  const coordLog = path.join(out, 'logs', 'coordinator.log');
  const formed = await waitFor('the ring to form', () => logEvents(coordLog, 'ring-formed')[0], 60_000);
  const ports = (formed.ring as { address: string }[]).map((p) => Number(p.address.split(':').pop()));
  for (let round = 0; round < 3; round++) await Promise.all(ports.map((p) => sendGarbage(p, randomBytes(4096))));
  const r = await run.result;
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /epoch 12\/12/);
  for (const rank of [0, 1]) {
    const refused = logEvents(path.join(out, 'logs', `rank ${rank}.log`), 'refused');
    assert.equal(refused.length, 3, `rank ${rank} refusals: ${refused.map((e) => String(e.msg)).join(' | ')}`);
    assert.match(
      String(refused[0]!.msg),
      /dropped a connection from 127\.0\.0\.1:\d+: bad frame magic .* \(it had not proven the join token\)/,
    );
  }
});
