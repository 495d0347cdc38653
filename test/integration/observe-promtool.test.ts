/**
 * Lints the exposition text of both registries with Prometheus's own checker, so naming
 * mistakes (a counter without `_total`, a unit not in base units) fail here rather than on a
 * dashboard. Needs `promtool` (Debian package prometheus); skips, saying so, without it.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { Registry } from 'prom-client';
import { createCoordinatorMetrics, createWorkerMetrics } from '../../src/observe';

function promtoolMissing(): string | false {
  const probe = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  return probe.error ? `promtool is not on the PATH (${probe.error.message}); install the prometheus package` : false;
}

/** Runs `promtool check metrics` on `text`; returns its exit status and everything it printed. */
function checkMetrics(text: string): { status: number | null; report: string } {
  const run = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { status: run.status, report: `${run.stdout}${run.stderr}`.trim() };
}

test('promtool finds no problem in the worker and coordinator metrics', async (t) => {
  const missing = promtoolMissing();
  if (missing) {
    t.skip(missing);
    return;
  }
  const worker = new Registry();
  const w = createWorkerMetrics(worker, 3, 'wasm');
  // Observe something in every family so labelled series and histogram buckets are present.
  w.samplesTotal.inc(64);
  w.stepDuration.observe(0.05);
  w.loss.set({ split: 'train' }, 0.7);
  w.accuracy.set({ split: 'validation' }, 0.8);
  w.allreduceDuration.observe(0.002);
  w.allreduceBytes.inc(1024);
  const coordinator = new Registry();
  createCoordinatorMetrics(coordinator).joinsTotal.inc();

  for (const [name, registry] of [['worker', worker], ['coordinator', coordinator]] as const) {
    const text = await registry.metrics();
    assert.match(text, /^ringtrain_/m, `${name} registry exported no ringtrain_ series`);
    const { status, report } = checkMetrics(text);
    const aboutUs = report.split('\n').filter((l) => l.includes('ringtrain_'));
    assert.deepEqual(aboutUs, [], `promtool on the ${name} metrics:\n${report}`);
    assert.equal(status, 0, `promtool on the ${name} metrics exited ${status}:\n${report}`);
  }
});
