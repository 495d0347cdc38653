/**
 * Loading a job: file, then RINGTRAIN_SET, then --set, each a layer over the defaults, validated
 * once at the end. The env layer exists for Kubernetes, where a ConfigMap holds the file and a
 * pod template can only add environment variables; --set comes last because the person at the
 * terminal is the most specific source.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse, YAMLParseError } from 'yaml';
import { isRingtrainError, RingtrainError } from '../core';
import { DEFAULT_JOB } from './defaults';
import type { JobSpec } from './job-spec';
import { parseSetArgs } from './overrides';
import { isPlainObject } from './schema';
import { validateJobLayers, type ConfigLayer } from './validate';

/** Environment variable holding ';'-separated key=value overrides. */
export const ENV_SET = 'RINGTRAIN_SET';

const JOB_FILE_EXTENSIONS = ['.yaml', '.yml', '.json'];

export interface LoadJobOptions {
  /** Job file (.yaml, .yml or .json); omitted = defaults plus overrides. */
  file?: string;
  /** `--set key=value` items, applied last. */
  sets?: readonly string[];
  /** Where RINGTRAIN_SET is read from; process.env when omitted. */
  env?: NodeJS.ProcessEnv;
}

/**
 * The validated job spec from all sources. Throws one CONFIG_INVALID: for an unreadable or
 * unparsable file and malformed override items together, else for every invalid field.
 */
export function loadJob(opts: LoadJobOptions): JobSpec {
  const layers: ConfigLayer[] = [];
  const failures: string[] = [];
  // Gather read/syntax failures from every source before giving up, so one run shows them all.
  const attempt = (source: string, read: () => unknown): void => {
    try {
      layers.push({ raw: read(), source });
    } catch (e) {
      if (!isRingtrainError(e) || e.code !== 'CONFIG_INVALID') throw e;
      failures.push(e.message);
    }
  };
  const { file } = opts;
  if (file !== undefined) attempt(file, () => readJobFile(file));
  const envItems = splitEnvSet((opts.env ?? process.env)[ENV_SET] ?? '');
  if (envItems.length > 0) attempt(ENV_SET, () => parseSetArgs(envItems, ENV_SET));
  const sets = opts.sets ?? [];
  if (sets.length > 0) attempt('--set', () => parseSetArgs(sets, '--set'));
  if (failures.length > 0) throw new RingtrainError('CONFIG_INVALID', failures.join('\n'));
  return validateJobLayers(layers);
}

/** 'a=1; b=2;' -> ['a=1', 'b=2']: blanks are dropped so a trailing ';' is harmless. */
export function splitEnvSet(value: string): string[] {
  return value
    .split(';')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

/** Parse a job file. JSON goes through the YAML parser too: it is YAML, and errors get lines. */
export function readJobFile(file: string): unknown {
  const ext = extname(file).toLowerCase();
  if (!JOB_FILE_EXTENSIONS.includes(ext)) {
    const known = JOB_FILE_EXTENSIONS.join(', ');
    throw invalid(`job file '${file}' has extension '${ext}'; use one of ${known}`);
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw invalid(`cannot read job file '${file}': ${readFailure(e)}`);
  }
  try {
    return parse(text) as unknown;
  } catch (e) {
    throw invalid(`cannot parse job file '${file}'${parseFailure(e)}`);
  }
}

function readFailure(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file (check the path, relative to the current directory)';
  if (code === 'EISDIR') return 'it is a directory, not a file';
  if (code === 'EACCES') return 'permission denied';
  return e instanceof Error ? e.message : String(e);
}

/** " at line 3, column 5: reason" plus the parser's source excerpt, indented. */
function parseFailure(e: unknown): string {
  if (!(e instanceof YAMLParseError)) return `: ${e instanceof Error ? e.message : String(e)}`;
  const [reason, excerpt = ''] = e.message.split(/ at line \d+, column \d+:\n/);
  const pos = e.linePos?.[0];
  const where = pos ? ` at line ${pos.line}, column ${pos.col}` : '';
  const lines = excerpt.replace(/^\n+|\s+$/g, '');
  return `${where}: ${reason}${lines === '' ? '' : `\n${lines.replace(/^/gm, '    ')}`}`;
}

function invalid(message: string): RingtrainError {
  return new RingtrainError('CONFIG_INVALID', message);
}

/**
 * sha256 hex of the spec as canonical JSON (keys sorted at every level), so workers can check
 * they run the same config regardless of key order in their files.
 */
export function jobHash(spec: JobSpec): string {
  return createHash('sha256').update(canonicalJson(spec)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isPlainObject(value)) {
    const keys = Object.keys(value)
      .filter((k) => value[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * The part of the spec that must agree across workers for their replicas to stay identical:
 * model, data handling, training knobs and seed. Where a process binds, logs or writes (observe,
 * outDir, checkpoint dir), where its files live (data paths, a model module's path: machines
 * mount them differently), its backend, security and the cluster timeouts may differ per
 * machine. What a model module builds is checked separately, by its parameter shapes.
 */
export function trainingFingerprint(spec: JobSpec): string {
  return jobHash({
    ...spec,
    model: { ...spec.model, module: '' },
    data: { ...spec.data, dir: '', trainFile: '', testFile: '', module: '' },
    checkpoint: { ...spec.checkpoint, dir: '' },
    outDir: '',
    backend: 'auto',
    observe: DEFAULT_JOB.observe,
    cluster: DEFAULT_JOB.cluster,
    security: DEFAULT_JOB.security,
  });
}
