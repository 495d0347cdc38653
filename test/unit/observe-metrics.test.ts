import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Registry } from 'prom-client';
import { createCoordinatorMetrics, createWorkerMetrics } from '../../src/observe';

/** The sample lines (not # HELP / # TYPE) of a metric family, e.g. `ringtrain_epoch{...} 2`. */
function samples(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

test('every worker series carries rank="3" and counters hold what was added', async () => {
  const registry = new Registry();
  const m = createWorkerMetrics(registry, 3, 'wasm', 'native-avx2-fma');
  m.samplesTotal.inc(64);
  m.samplesTotal.inc(64);
  m.stepDuration.observe(0.02);
  m.stepPhaseSeconds.inc({ phase: 'compute' }, 0.015);
  m.stepPhaseSeconds.inc({ phase: 'communication' }, 0.004);
  m.loss.set({ split: 'train' }, 0.5);
  m.accuracy.set({ split: 'validation' }, 0.91);
  m.allreduceDuration.observe(0.003);
  m.allreduceBytes.inc(4096);
  m.peerWaitSeconds.inc(0.0025);
  m.epoch.set(2);
  m.step.set(17);
  m.generation.set(1);
  m.ringLink.set({ peer: '0', path: 'shared-memory' }, 1);
  const text = await registry.metrics();

  const lines = text.split('\n').filter((l) => l.startsWith('ringtrain_'));
  assert.ok(lines.length > 30, `expected many series, got ${lines.length}`);
  for (const line of lines) assert.match(line, /rank="3"/, line);

  assert.deepEqual(samples(text, 'ringtrain_samples_total'), ['ringtrain_samples_total{rank="3"} 128']);
  assert.deepEqual(samples(text, 'ringtrain_allreduce_bytes_total'), [
    'ringtrain_allreduce_bytes_total{rank="3"} 4096',
  ]);
  assert.deepEqual(samples(text, 'ringtrain_peer_wait_seconds_total'), [
    'ringtrain_peer_wait_seconds_total{rank="3"} 0.0025',
  ]);
  assert.deepEqual(samples(text, 'ringtrain_step_phase_seconds_total'), [
    'ringtrain_step_phase_seconds_total{phase="data",rank="3"} 0',
    'ringtrain_step_phase_seconds_total{phase="compute",rank="3"} 0.015',
    'ringtrain_step_phase_seconds_total{phase="communication",rank="3"} 0.004',
    'ringtrain_step_phase_seconds_total{phase="update",rank="3"} 0',
  ]);
  assert.deepEqual(samples(text, 'ringtrain_loss'), ['ringtrain_loss{split="train",rank="3"} 0.5']);
  assert.deepEqual(samples(text, 'ringtrain_accuracy'), ['ringtrain_accuracy{split="validation",rank="3"} 0.91']);
  assert.deepEqual(samples(text, 'ringtrain_epoch'), ['ringtrain_epoch{rank="3"} 2']);
  assert.deepEqual(samples(text, 'ringtrain_step'), ['ringtrain_step{rank="3"} 17']);
  assert.deepEqual(samples(text, 'ringtrain_generation'), ['ringtrain_generation{rank="3"} 1']);
  assert.deepEqual(samples(text, 'ringtrain_ring_link_info'), [
    'ringtrain_ring_link_info{peer="0",path="shared-memory",rank="3"} 1',
  ]);
  assert.deepEqual(samples(text, 'ringtrain_backend_info'), [
    'ringtrain_backend_info{backend="wasm",kernels="native-avx2-fma",rank="3"} 1',
  ]);
  assert.ok(text.includes('ringtrain_step_duration_seconds_bucket{le="0.025",rank="3"} 1'));
  assert.ok(text.includes('ringtrain_step_duration_seconds_bucket{le="0.01",rank="3"} 0'));
  assert.ok(text.includes('ringtrain_step_duration_seconds_count{rank="3"} 1'));
  assert.ok(text.includes('ringtrain_allreduce_duration_seconds_bucket{le="0.005",rank="3"} 1'));
});

test('worker metrics live only in the injected registry', async () => {
  const a = new Registry();
  const b = new Registry();
  createWorkerMetrics(a, 0, 'cpu');
  createWorkerMetrics(b, 1, 'cpu');
  assert.match(await a.metrics(), /ringtrain_backend_info\{backend="cpu",kernels="cpu",rank="0"\} 1/);
  assert.match(await b.metrics(), /ringtrain_backend_info\{backend="cpu",kernels="cpu",rank="1"\} 1/);
  assert.doesNotMatch(await a.metrics(), /rank="1"/);
});

test('the coordinator job_state has exactly one state at 1, following setState', async () => {
  const registry = new Registry();
  const m = createCoordinatorMetrics(registry);
  const states = async (): Promise<string[]> => samples(await registry.metrics(), 'ringtrain_job_state');
  assert.deepEqual(await states(), [
    'ringtrain_job_state{state="running"} 1',
    'ringtrain_job_state{state="done"} 0',
    'ringtrain_job_state{state="failed"} 0',
  ]);
  m.setState('failed');
  assert.deepEqual(await states(), [
    'ringtrain_job_state{state="running"} 0',
    'ringtrain_job_state{state="done"} 0',
    'ringtrain_job_state{state="failed"} 1',
  ]);
});

test('the coordinator exports workers, generation, epoch, step, samples and joins', async () => {
  const registry = new Registry();
  const m = createCoordinatorMetrics(registry);
  m.workers.set(4);
  m.generation.set(3);
  m.epoch.set(1);
  m.step.set(250);
  m.samplesTotal.inc(1000);
  m.joinsTotal.inc(5);
  const text = await registry.metrics();
  assert.deepEqual(
    [
      'ringtrain_job_workers',
      'ringtrain_job_generation',
      'ringtrain_job_epoch',
      'ringtrain_job_step',
      'ringtrain_job_samples_total',
      'ringtrain_job_joins_total',
    ].map((n) => samples(text, n)),
    [
      ['ringtrain_job_workers 4'],
      ['ringtrain_job_generation 3'],
      ['ringtrain_job_epoch 1'],
      ['ringtrain_job_step 250'],
      ['ringtrain_job_samples_total 1000'],
      ['ringtrain_job_joins_total 5'],
    ],
  );
});
