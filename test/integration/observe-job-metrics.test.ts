/**
 * The coordinator's job-level series, end to end through its gRPC service and its /metrics: what
 * workers report and heartbeat shows up as world size, throughput, loss, accuracy, restarts and
 * stragglers, with bounded labels.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { DEFAULT_JOB, type JobSpec } from '../../src/config';
import { trainingFingerprint } from '../../src/config/load';
import { startCoordinator } from '../../src/coordinator/run-coordinator';
import { createLogger, type DestinationStream } from '../../src/observe/logger';
import { CoordinatorClient } from '../../src/worker/coordinator-client';

function spec(): JobSpec {
  return {
    ...DEFAULT_JOB,
    name: 'job-metrics',
    cluster: { ...DEFAULT_JOB.cluster, worldSize: 2, joinTimeoutSec: 5, connectTimeoutSec: 5 },
    observe: { ...DEFAULT_JOB.observe, metricsHost: '127.0.0.1', metricsPort: 0 },
  };
}

/** The value of one exposition line (`name{labels} value`), or undefined when absent. */
function sample(body: string, series: string): number | undefined {
  const line = body.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test(
  'rank 0 reports and heartbeats become the job-level series on the coordinator /metrics',
  { timeout: 20_000 },
  async () => {
    const s = spec();
    const destination: DestinationStream = { write: () => undefined };
    const coord = await startCoordinator({
      spec: s,
      host: '127.0.0.1',
      port: 0,
      log: createLogger({ job: s.name, role: 'coordinator', destination }),
      lingerMs: 50,
    });
    const address = `127.0.0.1:${coord.grpcPort}`;
    const a = new CoordinatorClient(address, s.name, 'w-a');
    const b = new CoordinatorClient(address, s.name, 'w-b');
    const scrape = async (): Promise<string> => (await fetch(`http://127.0.0.1:${coord.metricsPort}/metrics`)).text();
    try {
      const before = await scrape();
      assert.equal(sample(before, 'ringtrain_job_world_size'), 2, 'the world size is known before anyone joins');
      assert.equal(sample(before, 'ringtrain_job_restarts_total'), 0, 'restarts are exported, at 0, from the start');
      // prom-client's default series: the coordinator's own CPU and memory.
      assert.ok((sample(before, 'process_cpu_seconds_total') ?? 0) > 0, 'process_cpu_seconds_total');
      assert.ok((sample(before, 'nodejs_heap_size_used_bytes') ?? 0) > 0, 'nodejs_heap_size_used_bytes');

      const hash = trainingFingerprint(s);
      const [ja] = await Promise.all([
        a.join({ address: '127.0.0.1:41000', rankHint: 0, configHash: hash, metricsUrl: '' }, 5_000, 5_000),
        b.join({ address: '127.0.0.1:41001', rankHint: 1, configHash: hash, metricsUrl: '' }, 5_000, 5_000),
      ]);
      assert.equal(ja.rank, 0);
      await a.report(1, 63, 8064, [
        { epoch: 1, split: 'train', loss: 0.4321, accuracy: 0.875, samplesPerSec: 6543.5, samples: 4032 },
        { epoch: 1, split: 'val', loss: 0.5432, accuracy: 0.8125, samplesPerSec: 0, samples: 1000 },
        // The wire carries any string; a split the coordinator does not know (from a foreign or
        // buggy worker) must not become a new label value.
        { epoch: 1, split: 'made-up' as unknown as 'train', loss: 9, accuracy: 0, samplesPerSec: 1, samples: 1 },
      ]);
      // Rank 1's report is not the job's: it must not overwrite rank 0's figures.
      await b.report(1, 63, 8064, [
        { epoch: 1, split: 'train', loss: 7, accuracy: 0.1, samplesPerSec: 1, samples: 4032 },
      ]);

      // Rank 1 spends 3x rank 0's busy time per step, heartbeat after heartbeat.
      for (let i = 1; i <= 6; i++) {
        await a.heartbeat(1, 10 * i, 0, 0.1 * i);
        await b.heartbeat(1, 10 * i, 0, 0.3 * i);
      }

      const body = await scrape();
      assert.equal(sample(body, 'ringtrain_job_epoch'), 1);
      assert.equal(sample(body, 'ringtrain_job_samples_per_second'), 6543.5);
      assert.equal(sample(body, 'ringtrain_job_loss{split="train"}'), 0.4321);
      assert.equal(sample(body, 'ringtrain_job_loss{split="val"}'), 0.5432);
      assert.equal(sample(body, 'ringtrain_job_accuracy{split="train"}'), 0.875);
      assert.equal(sample(body, 'ringtrain_job_accuracy{split="val"}'), 0.8125);
      assert.doesNotMatch(body, /made-up/);
      assert.equal(sample(body, 'ringtrain_job_workers'), 2);
      assert.equal(sample(body, 'ringtrain_job_step'), 60);
      assert.equal(
        sample(body, 'ringtrain_job_straggler{rank="1"}'),
        1,
        body
          .split('\n')
          .filter((l) => l.includes('straggler'))
          .join('\n'),
      );
      assert.equal(sample(body, 'ringtrain_job_straggler{rank="0"}'), undefined, 'a rank never named has no series');

      // Once rank 1 catches up, its series drops to 0 rather than disappearing.
      for (let i = 7; i <= 12; i++) {
        await a.heartbeat(1, 10 * i, 0, 0.6 + 0.1 * (i - 6));
        await b.heartbeat(1, 10 * i, 0, 1.8 + 0.1 * (i - 6));
      }
      assert.equal(sample(await scrape(), 'ringtrain_job_straggler{rank="1"}'), 0);
    } finally {
      a.close();
      b.close();
      await coord.stop('test over');
    }
  },
);
