import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startCli, tempDir, waitFor } from './cli';

test('during a run, a worker /metrics shows the ringtrain series with its rank, the process and Node.js series, and how its ring link carries payloads', async () => {
  const out = tempDir('metrics');
  // Several seconds of training, so the run outlasts the polling below; it is stopped at the end.
  // The default gRPC job: both workers share this host, so their all-reduces go through a shared file.
  const run = startCli(['launch', '--nproc', '2', '--set', 'train.epochs=6', 'data.testLimit=500', '--out', out], {
    timeoutMs: 120_000,
  });
  try {
    const log = path.join(out, 'logs', 'rank 1.log');
    const url = await waitFor(
      'rank 1 metrics url',
      () => {
        if (!fs.existsSync(log)) return undefined;
        const m = /"metricsUrl":"(http:\/\/127\.0\.0\.1:\d+\/metrics)"/.exec(fs.readFileSync(log, 'utf8'));
        return m?.[1];
      },
      60_000,
    );
    // Poll until an epoch has ended, so the per-epoch gauges (loss, accuracy) have values too.
    let text = '';
    for (let i = 0; i < 300 && !/^ringtrain_loss\{[^}]*split="val"/m.test(text); i++) {
      text = await (await fetch(url)).text();
      await new Promise((r) => setTimeout(r, 200));
    }
    const samples = Number(/^ringtrain_samples_total\{rank="1"\} (\d+)/m.exec(text)?.[1]);
    assert.ok(samples > 0, `samples ${samples}`);
    for (const series of [
      'ringtrain_samples_total',
      'ringtrain_step_duration_seconds_bucket',
      'ringtrain_allreduce_duration_seconds_count',
      'ringtrain_allreduce_bytes_total',
      'ringtrain_loss',
      'ringtrain_accuracy',
    ]) {
      assert.match(text, new RegExp(`^${series}\\{[^}]*rank="1"`, 'm'), `${series} with rank="1" missing`);
    }
    const bytes = Number(/^ringtrain_allreduce_bytes_total\{rank="1"\} (\S+)/m.exec(text)?.[1]);
    assert.ok(bytes > 0, `all-reduce bytes ${bytes}`);
    // The wait for the peer is part of the communication phase, never more than it.
    const wait = Number(/^ringtrain_peer_wait_seconds_total\{rank="1"\} (\S+)/m.exec(text)?.[1]);
    const comm = Number(/^ringtrain_step_phase_seconds_total\{phase="communication",rank="1"\} (\S+)/m.exec(text)?.[1]);
    assert.ok(wait >= 0 && comm > 0 && wait <= comm, `peer wait ${wait} s, communication ${comm} s`);
    // The path the worker's log names (event allreduce-path), not the transport's name.
    assert.match(fs.readFileSync(log, 'utf8'), /"event":"allreduce-path".*go through a shared file/);
    assert.deepEqual(
      text.split('\n').filter((l) => l.startsWith('ringtrain_ring_link_info{')),
      ['ringtrain_ring_link_info{peer="0",path="shared-file",rank="1"} 1'],
    );
    // prom-client's default process and Node.js series, with the rank like every other.
    for (const series of [
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_seconds',
      'nodejs_heap_size_used_bytes',
    ]) {
      const value = Number(new RegExp(`^${series}\\{rank="1"\\} (\\S+)`, 'm').exec(text)?.[1]);
      assert.ok(value > 0, `${series}{rank="1"} is ${value}`);
    }
  } finally {
    run.child.kill('SIGTERM');
    await run.result;
  }
});
