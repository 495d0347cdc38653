/**
 * Lints the exposition text of both registries with Prometheus's own checker, so naming
 * mistakes (a counter without `_total`, a unit not in base units) fail here rather than on a
 * dashboard. Needs `promtool` (Debian package prometheus, which .ci/run installs): without it the
 * test fails, saying so, rather than passing without having checked anything.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Registry } from 'prom-client';
import { createCoordinatorMetrics, createWorkerMetrics } from '../../src/observe';
import { runTool } from './deploy-tools';

test('promtool finds no problem in the worker and coordinator metrics', async () => {
  const worker = new Registry();
  const w = createWorkerMetrics(worker, 3, 'wasm');
  // Observe something in every family so labelled series and histogram buckets are present.
  w.samplesTotal.inc(64);
  w.stepDuration.observe(0.05);
  w.loss.set({ split: 'train' }, 0.7);
  w.accuracy.set({ split: 'val' }, 0.8);
  w.allreduceDuration.observe(0.002);
  w.allreduceBytes.inc(1024);
  const coordinator = new Registry();
  const c = createCoordinatorMetrics(coordinator);
  c.joinsTotal.inc();
  c.worldSize.set(2);
  c.setStragglers([1]);
  c.recordEpoch({ split: 'train', loss: 0.3, accuracy: 0.9, samplesPerSec: 5000 });
  c.recordEpoch({ split: 'val', loss: 0.35, accuracy: 0.88, samplesPerSec: 0 });

  for (const [name, registry] of [
    ['worker', worker],
    ['coordinator', coordinator],
  ] as const) {
    const text = await registry.metrics();
    assert.match(text, /^ringtrain_/m, `${name} registry exported no ringtrain_ series`);
    const { status, output } = runTool('promtool', ['check', 'metrics'], { input: text });
    const aboutUs = output.split('\n').filter((l) => l.includes('ringtrain_'));
    assert.deepEqual(aboutUs, [], `promtool on the ${name} metrics:\n${output}`);
    assert.equal(status, 0, `promtool on the ${name} metrics exited ${status}:\n${output}`);
  }
});
