/**
 * The alert rules: promtool accepts them and their unit tests pass, every alert has a test in
 * which it fires, the PrometheusRule for the operator carries the same groups, and the alerts
 * query only series ringtrain exports.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import {
  REPO,
  dig,
  exportedSeriesNames,
  isRecord,
  readRepoFile,
  renderOverlay,
  runTool,
  scratchDir,
} from './deploy-tools';

const RULES = 'deploy/prometheus/ringtrain-rules.yaml';
const RULE_TESTS = 'deploy/prometheus/ringtrain-rules.test.yaml';

interface Rule {
  alert?: string;
  expr: string;
}

function alertNames(): string[] {
  const groups = dig(parse(readRepoFile(RULES)), 'groups');
  assert.ok(Array.isArray(groups));
  return groups
    .flatMap((g: unknown) => (dig(g, 'rules') as Rule[]).map((r) => r.alert))
    .filter((a): a is string => a !== undefined);
}

test('promtool check rules accepts the plain rules file', () => {
  const run = runTool('promtool', ['check', 'rules', RULES]);
  assert.equal(run.status, 0, run.output);
  assert.match(run.output, new RegExp(`SUCCESS: ${alertNames().length} rules found`));
});

test('promtool test rules passes: each alert fires on its trigger and stays quiet on a healthy job', () => {
  const run = runTool('promtool', ['test', 'rules', RULE_TESTS]);
  assert.equal(run.status, 0, run.output);
  assert.match(run.output, /SUCCESS/);
});

test('every alert the issue asks for exists and has a rule test in which it fires', () => {
  const alerts = alertNames();
  for (const needed of [
    'RingtrainNoProgress',
    'RingtrainLossNotFinite',
    'RingtrainWorkerDown',
    'RingtrainStraggler',
    'RingtrainRestartsClimbing',
  ]) {
    assert.ok(alerts.includes(needed), `${needed} missing from ${alerts.join(', ')}`);
  }
  const cases = (dig(parse(readRepoFile(RULE_TESTS)), 'tests') as unknown[]).flatMap(
    (t) => (dig(t, 'alert_rule_test') as unknown[]) ?? [],
  );
  for (const alert of alerts) {
    const firing = cases.filter(
      (c) =>
        dig(c, 'alertname') === alert &&
        Array.isArray(dig(c, 'exp_alerts')) &&
        (dig(c, 'exp_alerts') as unknown[]).length > 0,
    );
    const quiet = cases.filter(
      (c) =>
        dig(c, 'alertname') === alert &&
        Array.isArray(dig(c, 'exp_alerts')) &&
        (dig(c, 'exp_alerts') as unknown[]).length === 0,
    );
    assert.ok(firing.length > 0, `${alert} never fires in ${RULE_TESTS}`);
    assert.ok(quiet.length > 0, `${alert} is never shown to stay quiet in ${RULE_TESTS}`);
  }
});

test('the rule tests fail when an alert does not fire as expected', () => {
  // Guards against a test file that passes whatever the rules say.
  const scratch = scratchDir('rules');
  try {
    fs.copyFileSync(path.join(REPO, RULES), path.join(scratch.dir, 'ringtrain-rules.yaml'));
    const tests = parse(readRepoFile(RULE_TESTS)) as Record<string, unknown>;
    const straggler = (tests.tests as unknown[]).find((t) =>
      JSON.stringify(t).includes('"alertname":"RingtrainStraggler"'),
    );
    const firing = (dig(straggler, 'alert_rule_test') as Record<string, unknown>[]).find(
      (c) => (c.exp_alerts as unknown[]).length > 0,
    );
    assert.ok(isRecord(firing));
    firing.exp_alerts = [];
    fs.writeFileSync(path.join(scratch.dir, 'broken.test.yaml'), stringify({ ...tests, tests: [straggler] }));
    const run = runTool('promtool', ['test', 'rules', path.join(scratch.dir, 'broken.test.yaml')]);
    assert.notEqual(run.status, 0, run.output);
    assert.match(run.output, /alertname: RingtrainStraggler/);
  } finally {
    scratch.remove();
  }
});

test('the PrometheusRule of the monitoring overlay carries exactly the groups of the plain rules file', () => {
  const rule = renderOverlay('deploy/k8s/overlays/monitoring').find((o) => o.kind === 'PrometheusRule');
  assert.ok(rule, 'no PrometheusRule rendered');
  assert.deepEqual(
    dig(rule, 'spec', 'groups'),
    dig(parse(readRepoFile(RULES)), 'groups'),
    'copy the groups of ringtrain-rules.yaml into prometheus-rule.yaml',
  );
  // And promtool accepts it as a rules file of its own.
  const scratch = scratchDir('prometheusrule');
  try {
    const file = path.join(scratch.dir, 'spec.yaml');
    fs.writeFileSync(file, stringify(dig(rule, 'spec')));
    const run = runTool('promtool', ['check', 'rules', file]);
    assert.equal(run.status, 0, run.output);
  } finally {
    scratch.remove();
  }
});

test("the alerts query only series that ringtrain exports (and Prometheus' own up)", async () => {
  const exported = await exportedSeriesNames();
  const exprs = (dig(parse(readRepoFile(RULES)), 'groups', 0, 'rules') as Rule[]).map((r) => r.expr).join('\n');
  const used = new Set([...exprs.matchAll(/\bringtrain_[a-z_]+/g)].map((m) => m[0]));
  assert.ok(used.size >= 6, [...used].join(', '));
  assert.deepEqual(
    [...used].filter((n) => !exported.has(n)),
    [],
  );
});

/** GitHub's anchor for a Markdown heading: lower case, spaces to dashes, punctuation dropped. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9 -]/g, '')
    .replace(/ /g, '-');
}

test('every alert links a runbook section in docs/runbooks.md that says what to do', () => {
  const doc = readRepoFile('docs/runbooks.md');
  const sections = new Map<string, string>();
  for (const part of doc.split(/^## /m).slice(1)) {
    const [heading = '', ...body] = part.split('\n');
    sections.set(anchorOf(heading), body.join('\n'));
  }
  const rules = (dig(parse(readRepoFile(RULES)), 'groups') as unknown[]).flatMap(
    (g) => dig(g, 'rules') as Record<string, unknown>[],
  );
  for (const rule of rules.filter((r) => r.alert !== undefined)) {
    const url = String(dig(rule, 'annotations', 'runbook_url'));
    const m = /^docs\/runbooks\.md#([a-z0-9-]+)$/.exec(url);
    assert.ok(m, `${String(rule.alert)}: runbook_url '${url}' is not docs/runbooks.md#<section>`);
    const body = sections.get(m[1] as string);
    assert.ok(body !== undefined, `${String(rule.alert)}: docs/runbooks.md has no section #${m[1]}`);
    assert.equal(m[1], anchorOf(String(rule.alert)), 'the section is named after the alert');
    // What to do: a numbered list of at least two steps.
    assert.match(body, /What to do:\n\n1\. .+[\s\S]*\n2\. /, `${String(rule.alert)}: the runbook section has no steps`);
  }
  assert.equal(
    sections.size,
    rules.filter((r) => r.alert !== undefined).length,
    'one section per alert, no stale ones',
  );
});
