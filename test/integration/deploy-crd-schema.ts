/**
 * Checks a custom resource against its CRD's published OpenAPI v3 schema (test/fixtures/crds),
 * the way an API server with strict field validation does: types, enums, required fields, integer
 * or string fields, patterns, and any field the schema does not declare (which a server prunes
 * or, strictly, refuses). CEL rules (x-kubernetes-validations) are not evaluated here.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { REPO, isRecord } from './deploy-tools';

export interface OpenApiSchema {
  type?: string;
  properties?: Record<string, OpenApiSchema>;
  additionalProperties?: OpenApiSchema | boolean;
  items?: OpenApiSchema;
  required?: string[];
  enum?: unknown[];
  anyOf?: OpenApiSchema[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
}

interface CrdFile {
  spec: {
    group: string;
    names: { kind: string };
    versions: { name: string; served: boolean; schema: { openAPIV3Schema: OpenApiSchema } }[];
  };
}

/** `apiVersion kind` -> the schema of the served version, from every CRD fixture. */
export function loadCrdSchemas(dir = path.join(REPO, 'test', 'fixtures', 'crds')): Map<string, OpenApiSchema> {
  const out = new Map<string, OpenApiSchema>();
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.yaml'))) {
    const crd = parse(fs.readFileSync(path.join(dir, file), 'utf8')) as CrdFile;
    for (const v of crd.spec.versions.filter((x) => x.served))
      out.set(`${crd.spec.group}/${v.name} ${crd.spec.names.kind}`, v.schema.openAPIV3Schema);
  }
  return out;
}

function checkScalar(value: unknown, s: OpenApiSchema, at: string): string[] {
  const show = JSON.stringify(value);
  switch (s.type) {
    case 'string':
      if (typeof value !== 'string') return [`${at}: must be a string, got ${show}`];
      if (s.pattern !== undefined && !new RegExp(s.pattern).test(value))
        return [`${at}: ${show} does not match ${s.pattern}`];
      return [];
    case 'integer':
    case 'number':
      if (s.type === 'integer' ? !Number.isInteger(value) : typeof value !== 'number')
        return [`${at}: must be ${s.type === 'integer' ? 'an integer' : 'a number'}, got ${show}`];
      if (
        (s.minimum !== undefined && (value as number) < s.minimum) ||
        (s.maximum !== undefined && (value as number) > s.maximum)
      )
        return [`${at}: ${show} is out of range`];
      return [];
    case 'boolean':
      return typeof value === 'boolean' ? [] : [`${at}: must be a boolean, got ${show}`];
    default:
      return [];
  }
}

/** Every problem of `value` against `s`, each prefixed with where it is; [] when valid. */
export function checkOpenApi(value: unknown, s: OpenApiSchema, at: string): string[] {
  if (s['x-kubernetes-int-or-string'] === true && s.anyOf === undefined) {
    return Number.isInteger(value) || typeof value === 'string'
      ? []
      : [`${at}: must be an integer or a string, got ${JSON.stringify(value)}`];
  }
  if (s.anyOf !== undefined) {
    const tries = s.anyOf.map((alt) => checkOpenApi(value, { ...alt, anyOf: undefined }, at));
    if (!tries.some((p) => p.length === 0))
      return [
        `${at}: matches none of ${s.anyOf.map((a) => a.type ?? '?').join(', ')} (${tries.map((p) => p.join('; ')).join(' | ')})`,
      ];
    return [];
  }
  if (s.enum !== undefined && !s.enum.includes(value))
    return [`${at}: ${JSON.stringify(value)} is not one of ${s.enum.map((e) => JSON.stringify(e)).join(', ')}`];
  if (s.type === 'array') {
    if (!Array.isArray(value)) return [`${at}: must be a list`];
    return s.items === undefined
      ? []
      : value.flatMap((v: unknown, i) => checkOpenApi(v, s.items as OpenApiSchema, `${at}[${i}]`));
  }
  if (s.type !== 'object') return checkScalar(value, s, at);
  if (!isRecord(value)) return [`${at}: must be an object`];
  const problems = (s.required ?? []).filter((k) => value[k] === undefined).map((k) => `${at}.${k}: required`);
  for (const [k, v] of Object.entries(value)) {
    const field = s.properties?.[k];
    if (field !== undefined) problems.push(...checkOpenApi(v, field, `${at}.${k}`));
    else if (isRecord(s.additionalProperties)) problems.push(...checkOpenApi(v, s.additionalProperties, `${at}.${k}`));
    else if (s.additionalProperties !== true && s['x-kubernetes-preserve-unknown-fields'] !== true)
      problems.push(`${at}.${k}: unknown field`);
  }
  return problems;
}
