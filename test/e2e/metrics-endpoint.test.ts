import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startCli, tempDir, waitFor } from './cli';

test('during a run, a worker /metrics shows the ringtrain series with its rank, and how its ring link carries payloads', async () => {
  const out = tempDir('metrics');
  // Several seconds of training, so the run outlasts the polling below; it is stopped at the end.
  // tcp: both workers share this host, so rank 1's payloads to rank 0 go through shared memory.
  const run = startCli(['launch', '--nproc', '2', '--set', 'train.epochs=3', 'data.trainLimit=30000', 'data.testLimit=500', 'cluster.transport=tcp', '--out', out], { timeoutMs: 120_000 });
  try {
    const log = path.join(out, 'logs', 'rank 1.log');
    const url = await waitFor('rank 1 metrics url', () => {
      if (!fs.existsSync(log)) return undefined;
      const m = /"metricsUrl":"(http:\/\/127\.0\.0\.1:\d+\/metrics)"/.exec(fs.readFileSync(log, 'utf8'));
      return m?.[1];
    }, 60_000);
    // Poll until an epoch has ended, so the per-epoch gauges (loss, accuracy) have values too.
    let text = '';
    for (let i = 0; i < 300 && !/^ringtrain_loss\{[^}]*split="val"/m.test(text); i++) {
      text = await (await fetch(url)).text();
      await new Promise((r) => setTimeout(r, 200));
    }
    const samples = Number(/^ringtrain_samples_total\{rank="1"\} (\d+)/m.exec(text)?.[1]);
    assert.ok(samples > 0, `samples ${samples}`);
    for (const series of ['ringtrain_samples_total', 'ringtrain_step_duration_seconds_bucket', 'ringtrain_allreduce_duration_seconds_count', 'ringtrain_allreduce_bytes_total', 'ringtrain_loss', 'ringtrain_accuracy']) {
      assert.match(text, new RegExp(`^${series}\\{[^}]*rank="1"`, 'm'), `${series} with rank="1" missing`);
    }
    const bytes = Number(/^ringtrain_allreduce_bytes_total\{rank="1"\} (\S+)/m.exec(text)?.[1]);
    assert.ok(bytes > 0, `all-reduce bytes ${bytes}`);
    // The wait for the peer is part of the communication phase, never more than it.
    const wait = Number(/^ringtrain_peer_wait_seconds_total\{rank="1"\} (\S+)/m.exec(text)?.[1]);
    const comm = Number(/^ringtrain_step_phase_seconds_total\{phase="communication",rank="1"\} (\S+)/m.exec(text)?.[1]);
    assert.ok(wait >= 0 && comm > 0 && wait <= comm, `peer wait ${wait} s, communication ${comm} s`);
    assert.deepEqual(text.split('\n').filter((l) => l.startsWith('ringtrain_ring_link_info{')), ['ringtrain_ring_link_info{peer="0",path="shared-memory",rank="1"} 1']);
  } finally {
    run.child.kill('SIGTERM');
    await run.result;
  }
});
