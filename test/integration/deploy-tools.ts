/**
 * Helpers for the deploy tests: the external tools they drive (kubectl, promtool) and the
 * repository paths. A missing tool fails the test that needs it, naming the package that brings
 * it: CI installs them (.ci/run), so a silent skip would hide a check that never ran.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Registry } from 'prom-client';
import { parseAllDocuments } from 'yaml';
import { createCoordinatorMetrics, createProcessMetrics, createWorkerMetrics } from '../../src/observe';

/** The repository root (this file runs from dist/test/integration). */
export const REPO = path.resolve(__dirname, '../../..');

/** The overlays people apply, relative to the repository root. */
export const OVERLAYS = [
  'deploy/k8s/overlays/cpu',
  'deploy/k8s/overlays/gpu',
  'deploy/k8s/overlays/plain-jobs',
  'deploy/k8s/overlays/tls',
  'deploy/k8s/overlays/monitoring',
] as const;

/** The overlays that run a training job (all but monitoring). */
export const WORKLOADS = [
  'deploy/k8s/overlays/cpu',
  'deploy/k8s/overlays/gpu',
  'deploy/k8s/overlays/plain-jobs',
  'deploy/k8s/overlays/tls',
] as const;

const PACKAGE_OF: Record<string, string> = {
  kubectl: 'kubectl (with kustomize built in, v1.14 or later)',
  promtool: "the Debian package 'prometheus' (.ci/run installs it)",
  prometheus: "the Debian package 'prometheus' (.ci/run installs it)",
};

/** Throws, naming what to install, when `tool` is not on the PATH. */
export function requireTool(tool: string): void {
  const probe = spawnSync(tool, ['--version'], { encoding: 'utf8', timeout: 20_000 });
  if (probe.error !== undefined) {
    throw new Error(`${tool} is not on the PATH (${probe.error.message}): install ${PACKAGE_OF[tool] ?? tool}`);
  }
}

export interface ToolRun {
  status: number | null;
  /** stdout and stderr together, trimmed: what a person would read. */
  output: string;
  stdout: string;
}

export function runTool(tool: string, args: string[], opts: { input?: string; cwd?: string } = {}): ToolRun {
  requireTool(tool);
  const run = spawnSync(tool, args, {
    cwd: opts.cwd ?? REPO,
    input: opts.input,
    encoding: 'utf8',
    timeout: 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (run.error !== undefined) throw run.error;
  return { status: run.status, output: `${run.stdout}${run.stderr}`.trim(), stdout: run.stdout };
}

/** A rendered Kubernetes object, as plain data. */
export type K8sObject = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
};

/** `kubectl kustomize DIR`, parsed: one object per YAML document. */
export function renderOverlay(dir: string): K8sObject[] {
  const run = runTool('kubectl', ['kustomize', dir]);
  if (run.status !== 0) throw new Error(`kubectl kustomize ${dir} exited ${run.status}:\n${run.output}`);
  return parseYamlDocuments(run.stdout, `kubectl kustomize ${dir}`) as K8sObject[];
}

export function parseYamlDocuments(text: string, source: string): unknown[] {
  return parseAllDocuments(text).map((doc, i) => {
    if (doc.errors.length > 0)
      throw new Error(`${source}, document ${i + 1}: ${doc.errors.map((e) => e.message).join('; ')}`);
    return doc.toJS() as unknown;
  });
}

export function readRepoFile(rel: string): string {
  return fs.readFileSync(path.join(REPO, rel), 'utf8');
}

/** A temporary directory, removed by the returned function. */
export function scratchDir(prefix: string): { dir: string; remove: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ringtrain-${prefix}-`));
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Follows `path` (keys and list indices) into `v`; undefined when any step is missing. */
export function dig(v: unknown, ...keys: (string | number)[]): unknown {
  let cur = v;
  for (const k of keys) {
    if (typeof k === 'number') cur = Array.isArray(cur) ? (cur as unknown[])[k] : undefined;
    else cur = isRecord(cur) ? cur[k] : undefined;
  }
  return cur;
}

/**
 * Every series name ringtrain's registries export (histograms as _bucket, _sum and _count), so
 * a dashboard or an alert that queries a misspelt or removed metric fails a test, not a person.
 */
export async function exportedSeriesNames(): Promise<Set<string>> {
  const names = new Set<string>();
  const worker = new Registry();
  createWorkerMetrics(worker, 0, 'cpu');
  const coordinator = new Registry();
  createCoordinatorMetrics(coordinator);
  const processes = new Registry();
  createProcessMetrics(processes);
  for (const registry of [worker, coordinator, processes]) {
    for (const m of await registry.getMetricsAsJSON()) {
      if (String(m.type) === 'histogram')
        for (const suffix of ['_bucket', '_sum', '_count']) names.add(m.name + suffix);
      else names.add(m.name);
    }
  }
  return names;
}
