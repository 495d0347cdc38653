/**
 * The Grafana dashboard: its JSON is the rendering of a source typed against @grafana/schema's
 * Dashboard, every panel's PromQL parses (promtool), and it queries only series ringtrain exports.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { DASHBOARD_JSON_PATH, dashboardJson, ringtrainDashboard } from '../../deploy/grafana/dashboard';
import { dig, exportedSeriesNames, isRecord, readRepoFile, renderOverlay, runTool, scratchDir } from './deploy-tools';

interface PanelQuery {
  panel: string;
  refId: string;
  expr: string;
}

/** Every target of every panel, rows included. */
function panelQueries(): PanelQuery[] {
  const out: PanelQuery[] = [];
  for (const p of ringtrainDashboard.panels) {
    const inner = p.type === 'row' && 'panels' in p ? p.panels : [p];
    for (const q of inner) {
      for (const t of 'targets' in q ? (q.targets ?? []) : [])
        out.push({ panel: q.title ?? '?', refId: String(t.refId), expr: String(t.expr) });
    }
  }
  return out;
}

/** The PromQL inside each query variable (`label_values(SELECTOR, label)` is Grafana's wrapper). */
function variableQueries(): PanelQuery[] {
  return ringtrainDashboard.templating.list
    .filter((v) => v.type === 'query')
    .map((v) => {
      const m = /^label_values\((.+),\s*\w+\)$/.exec(String(v.query));
      assert.ok(m, `variable ${v.name}: expected label_values(selector, label), got ${String(v.query)}`);
      return { panel: `variable ${v.name}`, refId: v.name, expr: m[1] as string };
    });
}

/** Grafana's built-in interval variables, then the dashboard's own, replaced by sample values. */
function substitute(expr: string): string {
  const out = expr
    .replace(/\$__(rate_interval|interval|range)\b/g, '1m')
    .replace(/\$\{?job\}?/g, 'mnist-mlp')
    .replace(/\$\{?rank\}?/g, '0');
  assert.ok(!out.includes('$'), `an unknown template variable is left in ${expr}`);
  return out;
}

/** `promtool check rules` on one recording rule per expression: it parses each as PromQL. */
function checkPromql(queries: PanelQuery[]): { status: number | null; output: string } {
  const scratch = scratchDir('promql');
  try {
    const rules = queries.map((q, i) => ({ record: `ringtrain_dashboard:query_${i}`, expr: substitute(q.expr) }));
    const file = path.join(scratch.dir, 'dashboard-queries.yaml');
    fs.writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules }] }));
    return runTool('promtool', ['check', 'rules', file]);
  } finally {
    scratch.remove();
  }
}

test('ringtrain.json is the rendering of the dashboard source typed as a Grafana Dashboard', () => {
  assert.equal(DASHBOARD_JSON_PATH, path.resolve(__dirname, '../../../deploy/grafana/ringtrain.json'));
  assert.equal(
    fs.readFileSync(DASHBOARD_JSON_PATH, 'utf8'),
    dashboardJson(),
    'deploy/grafana/ringtrain.json is stale: run `npx tsc -p tsconfig.json && node dist/deploy/grafana/dashboard.js`',
  );
});

test('every panel and variable query parses as PromQL once the template variables are filled in', () => {
  const queries = [...panelQueries(), ...variableQueries()];
  assert.ok(queries.length >= 15, `only ${queries.length} queries`);
  const run = checkPromql(queries);
  assert.equal(run.status, 0, run.output);
  assert.match(run.output, new RegExp(`SUCCESS: ${queries.length} rules found`));
  // The check has teeth: one unbalanced parenthesis fails it.
  const broken = checkPromql([
    { panel: 'broken', refId: 'A', expr: 'sum(rate(ringtrain_samples_total{job="$job"}[$__rate_interval])' },
  ]);
  assert.notEqual(broken.status, 0, broken.output);
});

test('the dashboard shows throughput, loss and accuracy, step time per rank, bus bandwidth, workers and restarts for one job', () => {
  const queries = panelQueries();
  const titled = (title: string): string[] => queries.filter((q) => q.panel.startsWith(title)).map((q) => q.expr);
  assert.match(
    titled('Throughput').join('\n'),
    /sum\(rate\(ringtrain_samples_total\{job="\$job"\}\[\$__rate_interval\]\)\)/,
  );
  assert.match(titled('Loss').join('\n'), /ringtrain_job_loss/);
  assert.match(titled('Accuracy').join('\n'), /ringtrain_job_accuracy/);
  assert.match(titled('Step time by phase').join('\n'), /sum by \(phase\) \(rate\(ringtrain_step_phase_seconds_total/);
  assert.match(
    titled('All-reduce bus bandwidth').join('\n'),
    /ringtrain_allreduce_bytes_total.*\/.*ringtrain_allreduce_duration_seconds_sum/,
  );
  assert.match(titled('Workers and restarts').join('\n'), /ringtrain_job_workers[\s\S]*ringtrain_job_restarts_total/);
  const stepPanel = ringtrainDashboard.panels.find((p) => p.title?.startsWith('Step time by phase'));
  assert.equal(
    stepPanel !== undefined && 'repeat' in stepPanel ? stepPanel.repeat : undefined,
    'rank',
    'one step-time panel per rank',
  );
  const names = ringtrainDashboard.templating.list.map((v) => v.name);
  assert.deepEqual(names, ['datasource', 'job', 'rank']);
  for (const q of queries)
    assert.match(q.expr, /job="\$job"/, `${q.panel} ${q.refId} is not filtered by the job variable`);
});

test('the dashboard queries only series that ringtrain exports', async () => {
  const exported = await exportedSeriesNames();
  const used = new Set([...JSON.stringify(ringtrainDashboard).matchAll(/\bringtrain_[a-z_]+/g)].map((m) => m[0]));
  assert.ok(used.size >= 10, [...used].join(', '));
  assert.deepEqual(
    [...used].filter((n) => !exported.has(n)),
    [],
  );
});

test('the monitoring overlay ships the dashboard as a ConfigMap the Grafana sidecar picks up', () => {
  const objects = renderOverlay('deploy/k8s/overlays/monitoring');
  const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'ringtrain-grafana-dashboard');
  assert.ok(cm, 'no dashboard ConfigMap');
  assert.equal(cm.metadata.labels?.grafana_dashboard, '1');
  const json = dig(cm, 'data', 'ringtrain.json');
  assert.deepEqual(JSON.parse(String(json)), JSON.parse(readRepoFile('deploy/grafana/ringtrain.json')));
  // kubectl apply keeps the whole object in an annotation limited to 256 KiB.
  assert.ok(String(json).length < 200 * 1024, `dashboard is ${String(json).length} bytes`);
  assert.ok(isRecord(JSON.parse(String(json))));
});
