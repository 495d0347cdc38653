/**
 * Offline schema checks for rendered Kubernetes objects.
 *
 * Built-in kinds go through kubernetes-models' validators (types, enums, required fields). Those
 * validators, like the OpenAPI they come from, do not reject unknown fields, and a misspelt field
 * (`imagePullPolcy`) is exactly what a server with strict validation refuses. So the object is
 * validated through a recording proxy: a generated validator reads every property its schema
 * declares and no other, and enumerates only free-form maps (labels, data). Whatever key it never
 * read is unknown to the schema.
 *
 * prometheus-operator's kinds are not in kubernetes-models; they are checked against the subset
 * of their CRD schema (monitoring.coreos.com/v1) that ringtrain uses, with the same strictness.
 * JobSet and cert-manager's kinds are checked against their CRDs' published schemas, kept as
 * fixtures (test/fixtures/crds, see its README), and a JobSet's Job templates also as Jobs.
 */
import { Job } from 'kubernetes-models/batch/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, PersistentVolumeClaim, Secret, Service } from 'kubernetes-models/v1';
import { checkOpenApi, loadCrdSchemas } from './deploy-crd-schema';
import { isRecord } from './deploy-tools';

interface Validating {
  prototype: { validate(): void };
}

/** Built-in kinds ringtrain ships, by `apiVersion kind`. */
const MODELS: Record<string, Validating> = {
  'batch/v1 Job': Job,
  'v1 Service': Service,
  'v1 ConfigMap': ConfigMap,
  'v1 Secret': Secret,
  'v1 PersistentVolumeClaim': PersistentVolumeClaim,
  'networking.k8s.io/v1 NetworkPolicy': NetworkPolicy,
  'policy/v1 PodDisruptionBudget': PodDisruptionBudget,
};

const PUBLISHED_CRDS = loadCrdSchemas();

interface Recorded {
  value: Record<string, unknown>;
  read: Set<string>;
  enumerated: boolean;
}

/** Wraps `value` so every object under it records which of its keys were read. */
function recording(value: unknown, at: string, log: Map<string, Recorded>): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    return value.map((v, i) => recording(v, `${at}[${i}]`, log));
  }
  const target = value as Record<string, unknown>;
  const entry: Recorded = { value: target, read: new Set(), enumerated: false };
  log.set(at, entry);
  const children = new Map<string, unknown>();
  return new Proxy(target, {
    get(t, key) {
      if (typeof key !== 'string') return Reflect.get(t, key) as unknown;
      entry.read.add(key);
      if (!children.has(key)) children.set(key, recording(t[key], `${at}.${key}`, log));
      return children.get(key);
    },
    has(t, key) {
      if (typeof key === 'string') entry.read.add(key);
      return Reflect.has(t, key);
    },
    ownKeys(t) {
      entry.enumerated = true;
      return Reflect.ownKeys(t);
    },
  });
}

function unknownKeys(log: Map<string, Recorded>): string[] {
  const out: string[] = [];
  for (const [at, e] of log) {
    if (e.enumerated) continue;
    for (const key of Object.keys(e.value)) if (!e.read.has(key)) out.push(`${at}.${key}: unknown field`);
  }
  return out;
}

/** Runs a kubernetes-models validator over `value`; returns its errors plus unknown fields. */
function strictValidate(model: Validating, value: unknown, at: string): string[] {
  const log = new Map<string, Recorded>();
  const problems: string[] = [];
  try {
    model.prototype.validate.call(recording(value, at, log));
  } catch (e) {
    problems.push(`${at}: ${e instanceof Error ? e.message : String(e)}`);
  }
  return problems.concat(unknownKeys(log));
}

/** A field shape in the CRD subset below. */
type Shape =
  | 'string'
  | 'integer'
  | 'boolean'
  | { object: Record<string, Shape>; required?: string[] }
  | { list: Shape }
  | { map: Shape };

const STRINGS: Shape = { list: 'string' };
const LABEL_SELECTOR: Shape = {
  object: {
    matchLabels: { map: 'string' },
    matchExpressions: {
      list: { object: { key: 'string', operator: 'string', values: STRINGS }, required: ['key', 'operator'] },
    },
  },
};
const RELABEL: Shape = {
  object: {
    sourceLabels: STRINGS,
    separator: 'string',
    targetLabel: 'string',
    regex: 'string',
    modulus: 'integer',
    replacement: 'string',
    action: 'string',
  },
};

/** monitoring.coreos.com/v1 PodMonitor.spec, the fields ringtrain may use. */
const POD_MONITOR_SPEC: Shape = {
  object: {
    jobLabel: 'string',
    podTargetLabels: STRINGS,
    selector: LABEL_SELECTOR,
    namespaceSelector: { object: { any: 'boolean', matchNames: STRINGS } },
    sampleLimit: 'integer',
    podMetricsEndpoints: {
      list: {
        object: {
          port: 'string',
          path: 'string',
          scheme: 'string',
          interval: 'string',
          scrapeTimeout: 'string',
          honorLabels: 'boolean',
          honorTimestamps: 'boolean',
          params: { map: STRINGS },
          relabelings: { list: RELABEL },
          metricRelabelings: { list: RELABEL },
        },
      },
    },
  },
  required: ['selector'],
};

/** monitoring.coreos.com/v1 PrometheusRule.spec (promtool checks the rules themselves). */
const PROMETHEUS_RULE_SPEC: Shape = {
  object: {
    groups: {
      list: {
        object: {
          name: 'string',
          interval: 'string',
          rules: {
            list: {
              object: {
                alert: 'string',
                record: 'string',
                expr: 'string',
                for: 'string',
                labels: { map: 'string' },
                annotations: { map: 'string' },
              },
              required: ['expr'],
            },
          },
        },
        required: ['name', 'rules'],
      },
    },
  },
  required: ['groups'],
};

const CRDS: Record<string, Shape> = {
  'monitoring.coreos.com/v1 PodMonitor': POD_MONITOR_SPEC,
  'monitoring.coreos.com/v1 PrometheusRule': PROMETHEUS_RULE_SPEC,
};

function checkShape(value: unknown, shape: Shape, at: string): string[] {
  if (shape === 'string')
    return typeof value === 'string' ? [] : [`${at}: must be a string, got ${JSON.stringify(value)}`];
  if (shape === 'integer')
    return Number.isInteger(value) ? [] : [`${at}: must be an integer, got ${JSON.stringify(value)}`];
  if (shape === 'boolean')
    return typeof value === 'boolean' ? [] : [`${at}: must be a boolean, got ${JSON.stringify(value)}`];
  if ('list' in shape) {
    if (!Array.isArray(value)) return [`${at}: must be a list`];
    return value.flatMap((v: unknown, i) => checkShape(v, shape.list, `${at}[${i}]`));
  }
  if (!isRecord(value)) return [`${at}: must be an object`];
  if ('map' in shape) return Object.entries(value).flatMap(([k, v]) => checkShape(v, shape.map, `${at}.${k}`));
  const problems = (shape.required ?? []).filter((k) => value[k] === undefined).map((k) => `${at}.${k}: required`);
  for (const [k, v] of Object.entries(value)) {
    const field = shape.object[k];
    problems.push(...(field === undefined ? [`${at}.${k}: unknown field`] : checkShape(v, field, `${at}.${k}`)));
  }
  return problems;
}

/** Every problem with one rendered object, each prefixed with where it is; [] when valid. */
export function validateK8sObject(obj: Record<string, unknown>): string[] {
  const id = `${String(obj.kind)}/${String(isRecord(obj.metadata) ? obj.metadata.name : '?')}`;
  const key = `${String(obj.apiVersion)} ${String(obj.kind)}`;
  const model = MODELS[key];
  if (model !== undefined) return strictValidate(model, obj, id);
  const published = PUBLISHED_CRDS.get(key);
  const spec = CRDS[key];
  if (spec === undefined && published === undefined)
    return [`${id}: no schema for ${key}; add one to test/integration/deploy-k8s-schema.ts or test/fixtures/crds`];
  // kubernetes-models has no public ObjectMeta class; a ConfigMap holding only this metadata
  // puts it through the same ObjectMeta schema.
  const problems = strictValidate(ConfigMap, { apiVersion: 'v1', kind: 'ConfigMap', metadata: obj.metadata }, id);
  for (const k of Object.keys(obj)) {
    if (!['apiVersion', 'kind', 'metadata', 'spec'].includes(k)) problems.push(`${id}.${k}: unknown field`);
  }
  if (published !== undefined) {
    const specSchema = published.properties?.spec;
    if (specSchema === undefined) return problems.concat(`${id}: the CRD fixture for ${key} has no spec schema`);
    problems.push(...checkOpenApi(obj.spec, specSchema, `${id}.spec`));
    if (obj.kind === 'JobSet') problems.push(...jobTemplateProblems(obj, id));
    return problems;
  }
  return problems.concat(checkShape(obj.spec, spec as Shape, `${id}.spec`));
}

/** A JobSet's Job templates through the Job model too: the CRD's copy of JobSpec may lag Kubernetes'. */
function jobTemplateProblems(jobset: Record<string, unknown>, id: string): string[] {
  const spec = jobset.spec;
  const jobs = isRecord(spec) && Array.isArray(spec.replicatedJobs) ? (spec.replicatedJobs as unknown[]) : [];
  return jobs.flatMap((rj, i) => {
    const template = isRecord(rj) ? rj.template : undefined;
    if (!isRecord(template)) return [`${id}.spec.replicatedJobs[${i}].template: missing`];
    const name = isRecord(rj) ? String(rj.name) : String(i);
    const job = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name, ...(isRecord(template.metadata) ? template.metadata : {}) },
      spec: template.spec,
    };
    return strictValidate(Job, job, `${id}.spec.replicatedJobs[${i}].template`);
  });
}
