import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Counter, Histogram, Registry } from 'prom-client';
import { ALLREDUCE_DURATION_BUCKETS, STEP_DURATION_BUCKETS, STEP_PHASES, createWorkerMetrics } from '../../src/observe';
import { STEP_BATCH, type StepPhaseSeconds } from '../../src/observe/step-metrics-batch';

const NAMES = [
  'ringtrain_step_duration_seconds',
  'ringtrain_step_phase_seconds_total',
  'ringtrain_step_phase_duration_seconds',
  'ringtrain_peer_wait_seconds_total',
  'ringtrain_allreduce_duration_seconds',
];

/** A step's figures, varied enough to land in several buckets. */
function stepOf(i: number): { seconds: number; phases: StepPhaseSeconds } {
  const f = 1 + (i % 7);
  const phases = {
    data: 2e-5 * f,
    compute: 3e-4 * f,
    communication: 6e-5 * f * f,
    update: 4e-5,
    peerWait: 1e-5 * (i % 3),
  };
  return { seconds: phases.data + phases.compute + phases.communication + phases.update + 1e-6 * i, phases };
}

/** The same metrics as createWorkerMetrics, observed call by call (how steps were recorded before the batch). */
function plainMetrics(registry: Registry): (i: number) => void {
  const registers = [registry];
  registry.setDefaultLabels({ rank: '0' });
  const step = new Histogram({ name: NAMES[0] as string, help: 'x', buckets: STEP_DURATION_BUCKETS, registers });
  const phaseSeconds = new Counter({ name: NAMES[1] as string, help: 'x', labelNames: ['phase'], registers });
  const phaseDuration = new Histogram({
    name: NAMES[2] as string,
    help: 'x',
    labelNames: ['phase'],
    buckets: ALLREDUCE_DURATION_BUCKETS,
    registers,
  });
  const peerWait = new Counter({ name: NAMES[3] as string, help: 'x', registers });
  const allreduce = new Histogram({
    name: NAMES[4] as string,
    help: 'x',
    buckets: ALLREDUCE_DURATION_BUCKETS,
    registers,
  });
  for (const phase of STEP_PHASES) phaseSeconds.inc({ phase }, 0);
  return (i) => {
    const { seconds, phases } = stepOf(i);
    allreduce.observe(phases.communication);
    step.observe(seconds);
    for (const phase of STEP_PHASES) {
      phaseSeconds.inc({ phase }, phases[phase]);
      phaseDuration.observe({ phase }, phases[phase]);
    }
    peerWait.inc(phases.peerWait);
  };
}

/** The registry's text for the five step metrics, without HELP lines (the plain copies say 'x'). */
async function stepSeries(registry: Registry): Promise<string> {
  const text = await registry.metrics();
  return text
    .split('\n')
    .filter((l) => NAMES.some((n) => l.startsWith(n)))
    .join('\n');
}

test('batched step metrics scrape exactly as the same observations made one by one, at any step', async () => {
  const batched = new Registry();
  const m = createWorkerMetrics(batched, 0, 'wasm');
  const plain = new Registry();
  const observe = plainMetrics(plain);
  // Reads mid-batch (step 10), at a batch's end and past it (2 batches and 5 steps).
  const readsAt = new Set([10, STEP_BATCH, 2 * STEP_BATCH + 5]);
  for (let i = 1; i <= 2 * STEP_BATCH + 5; i++) {
    const { seconds, phases } = stepOf(i);
    m.steps.allreduce(phases.communication);
    m.steps.step(seconds, phases);
    observe(i);
    if (!readsAt.has(i)) continue;
    const [got, want] = [await stepSeries(batched), await stepSeries(plain)];
    assert.ok(
      want.includes(`ringtrain_step_duration_seconds_count{rank="0"} ${i}`),
      `the plain copy counts ${i} steps`,
    );
    assert.equal(got, want, `after ${i} steps`);
  }
});
