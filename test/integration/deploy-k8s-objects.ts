/**
 * Rendered manifests as the deploy tests read them: each overlay rendered once, objects found by
 * kind and name, and the pod templates of both workload shapes (one JobSet, or two plain Jobs)
 * under the same two owners, so one check covers both.
 */
import { strict as assert } from 'node:assert';
import { dig, isRecord, renderOverlay, type K8sObject } from './deploy-tools';

export type Dict = Record<string, unknown>;

const rendered = new Map<string, K8sObject[]>();

export function render(overlay: string): K8sObject[] {
  let objects = rendered.get(overlay);
  if (objects === undefined) {
    objects = renderOverlay(overlay);
    rendered.set(overlay, objects);
  }
  return objects;
}

export function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find(
    (o) => o.kind === kind && (o.metadata.name === name || o.metadata.name.startsWith(`${name}-`)),
  );
  assert.ok(found, `no ${kind} named ${name} among ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return found;
}

export function records(v: unknown): Dict[] {
  return Array.isArray(v) ? v.filter(isRecord) : [];
}

export function strings(v: unknown): Record<string, string> {
  return isRecord(v) ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, String(x)])) : {};
}

export function env(container: Dict): Dict[] {
  return records(container.env);
}

export function envValue(container: Dict, name: string): string | undefined {
  const v = env(container).find((e) => e.name === name)?.value;
  return typeof v === 'string' ? v : undefined;
}

export function matches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** The two roles' pods, whatever object holds them. */
export type Owner = 'ringtrain-coordinator' | 'ringtrain-worker';

export interface PodTemplate {
  owner: Owner;
  /** The Job spec around the pod template (completions, backoffLimit, podFailurePolicy ...). */
  job: Dict;
  labels: Record<string, string>;
  spec: Dict;
  containers: Dict[];
  /** Pod i's DNS name under its subdomain, as ring neighbours resolve it. */
  dnsName(index: number): string;
}

const OWNER_OF: Record<string, Owner> = { coordinator: 'ringtrain-coordinator', workers: 'ringtrain-worker' };

function template(owner: Owner, job: Dict, dnsName: (i: number) => string): PodTemplate {
  const spec = dig(job, 'template', 'spec');
  assert.ok(isRecord(spec), `${owner} has no pod template`);
  return {
    owner,
    job,
    labels: strings(dig(job, 'template', 'metadata', 'labels')),
    spec,
    containers: records(spec.containers),
    dnsName,
  };
}

export function podTemplates(objects: K8sObject[]): PodTemplate[] {
  const out: PodTemplate[] = [];
  for (const o of objects) {
    if (o.kind === 'Job') {
      const job = dig(o, 'spec') as Dict;
      const owner = o.metadata.name as Owner;
      out.push(
        template(owner, job, (i) => `${o.metadata.name}-${i}.${String(dig(job, 'template', 'spec', 'subdomain'))}`),
      );
    }
    if (o.kind === 'JobSet') {
      const subdomain = String(dig(o, 'spec', 'network', 'subdomain') ?? o.metadata.name);
      for (const rj of records(dig(o, 'spec', 'replicatedJobs'))) {
        const owner = OWNER_OF[String(rj.name)];
        assert.ok(owner, `JobSet replicated job ${String(rj.name)} is neither coordinator nor workers`);
        // JobSet names pod i of job 0 <jobset>-<replicatedJob>-0-<i> under its subdomain.
        out.push(
          template(
            owner,
            dig(rj, 'template', 'spec') as Dict,
            (i) => `${o.metadata.name}-${String(rj.name)}-0-${i}.${subdomain}`,
          ),
        );
      }
    }
  }
  return out;
}

export function podOf(objects: K8sObject[], owner: Owner): PodTemplate {
  const t = podTemplates(objects).find((p) => p.owner === owner);
  assert.ok(t, `no ${owner} pods`);
  return t;
}
