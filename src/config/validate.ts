/**
 * Validation: merge the user's layers over DEFAULT_JOB and check the result once, collecting
 * every problem, so a user fixes a config in one round trip instead of one error per run.
 * Each problem names the layer (file, RINGTRAIN_SET, --set) that set the offending value, which
 * is why layers are merged here rather than pre-merged by the caller.
 */
import { samplerChecks } from './validate-sampler';
import { RingtrainError } from '../core';
import { DEFAULT_JOB } from './defaults';
import type { JobSpec } from './job-spec';
import { describeRule, isPlainObject, ruleFor, schemaPaths, type FieldRule } from './schema';
import { closestPath } from './suggest';

/** Whether the coordinator may re-form a ring smaller than the world after a loss (elastic, minWorkers below worldSize). */
export function ringMayShrink(c: Pick<JobSpec['cluster'], 'maxRestarts' | 'minWorkers' | 'worldSize'>): boolean {
  return c.maxRestarts > 0 && c.minWorkers > 0 && c.minWorkers < c.worldSize;
}

/** One source of settings: a parsed file, or the nested object built from --set items. */
export interface ConfigLayer {
  raw: unknown;
  /** Shown before each problem: a file name, 'RINGTRAIN_SET' or '--set'. */
  source: string;
}

type Tree = Record<string, unknown>;

/** Validate one raw object (lists replace, objects merge) over DEFAULT_JOB. */
export function validateJob(raw: unknown, source: string): JobSpec {
  return validateJobLayers([{ raw, source }]);
}

/**
 * Merge layers in order (later wins) over DEFAULT_JOB, then check every field. Throws one
 * CONFIG_INVALID listing all problems; returns a fresh object sharing nothing with its inputs.
 */
export function validateJobLayers(layers: readonly ConfigLayer[]): JobSpec {
  const problems: string[] = [];
  const merged = structuredClone(DEFAULT_JOB) as unknown as Tree;
  const origin = new Map<string, string>();
  for (const { raw, source } of layers) {
    mergeLayer(raw, DEFAULT_JOB as unknown as Tree, merged, '', source, origin, problems);
  }
  for (const path of schemaPaths()) {
    const rule = ruleFor(path);
    if (rule === undefined) continue;
    const problem = checkValue(getPath(merged, path), rule);
    if (problem === undefined) continue;
    problems.push(`${origin.get(path) ?? 'defaults'}: ${path} ${problem}`);
  }
  if (problems.length === 0) crossCheck(merged as unknown as JobSpec, origin, problems);
  if (problems.length > 0) throw new RingtrainError('CONFIG_INVALID', formatProblems(problems));
  // Validated leaves are primitives or number lists, so this clone is safe and unshares lists.
  return structuredClone(merged) as unknown as JobSpec;
}

function mergeLayer(
  raw: unknown,
  defaults: Tree,
  target: Tree,
  prefix: string,
  source: string,
  origin: Map<string, string>,
  problems: string[],
): void {
  // An empty YAML file, or `data:` with every child commented out, parses to null: no overrides.
  if (raw === null || raw === undefined) return;
  if (!isPlainObject(raw)) {
    const where = prefix === '' ? 'the job spec' : `'${prefix.slice(0, -1)}'`;
    problems.push(`${source}: ${where} must be a mapping of fields, got ${describeValue(raw)}`);
    return;
  }
  for (const [key, value] of Object.entries(raw)) {
    const path = prefix + key;
    // hasOwn, not `in`: '__proto__' or 'constructor' must read as unknown, not as inherited.
    if (!Object.hasOwn(defaults, key)) {
      problems.push(`${source}: ${unknownField(path, prefix, Object.keys(defaults))}`);
      continue;
    }
    const fallback = defaults[key];
    if (isPlainObject(fallback)) {
      mergeLayer(value, fallback, target[key] as Tree, `${path}.`, source, origin, problems);
    } else {
      target[key] = value;
      origin.set(path, source);
    }
  }
}

function unknownField(path: string, prefix: string, keys: string[]): string {
  const siblings = keys.map((k) => prefix + k);
  const guess = closestPath(path.slice(prefix.length), siblings, schemaPaths());
  if (guess !== undefined) return `unknown field '${path}' (did you mean '${guess}'?)`;
  const level = prefix === '' ? 'at the top level' : `under '${prefix.slice(0, -1)}'`;
  return `unknown field '${path}' (known fields ${level}: ${keys.join(', ')})`;
}

function getPath(tree: Tree, path: string): unknown {
  let node: unknown = tree;
  for (const key of path.split('.')) node = isPlainObject(node) ? node[key] : undefined;
  return node;
}

/** undefined when `value` satisfies `rule`, else "must be ..., got ..." with the value. */
export function checkValue(value: unknown, rule: FieldRule): string | undefined {
  if (fits(value, rule)) return undefined;
  const base = `must be ${describeRule(rule)}, got ${describeValue(value)}`;
  // YAML reads `name: 2024` as a number; the fix is quoting, which is not obvious.
  const textual = rule.kind === 'string' || rule.kind === 'enum';
  const quote = textual && (typeof value === 'number' || typeof value === 'boolean');
  return quote ? `${base} (quote it to keep it text: '${String(value)}')` : base;
}

function fits(value: unknown, rule: FieldRule): boolean {
  switch (rule.kind) {
    case 'int':
      return Number.isSafeInteger(value) && inBounds(value as number, rule);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value) && inBounds(value, rule);
    case 'string':
      return typeof value === 'string' && !(rule.nonEmpty === true && value === '');
    case 'enum':
      return typeof value === 'string' && rule.values.includes(value);
    case 'bool':
      return typeof value === 'boolean';
    case 'mapping-list':
      return Array.isArray(value) && value.every((v) => isPlainObject(v));
    case 'string-list':
      return Array.isArray(value) && value.every((v) => typeof v === 'string' && v !== '');
    case 'int-list':
    case 'number-list': {
      const element = rule.kind === 'int-list' ? Number.isSafeInteger : Number.isFinite;
      return (
        Array.isArray(value) &&
        value.length >= rule.minLength &&
        value.every((v) => element(v) && inBounds(v as number, rule.each))
      );
    }
  }
}

function inBounds(v: number, b: { min?: number; max?: number; gt?: number; lt?: number }): boolean {
  return (
    (b.min === undefined || v >= b.min) &&
    (b.max === undefined || v <= b.max) &&
    (b.gt === undefined || v > b.gt) &&
    (b.lt === undefined || v < b.lt)
  );
}

/** A short rendering of what the user wrote; JSON quotes make a string look like one. */
function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (isPlainObject(value)) return 'a mapping';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * Rules that span fields; run only once each field is valid on its own, to avoid noise. The
 * problems come in this order, the order the job file's sections are read in.
 */
function crossCheck(spec: JobSpec, origin: Map<string, string>, problems: string[]): void {
  leaseAndWeightChecks(spec, origin, problems);
  modelChecks(spec, origin, problems);
  tlsChecks(spec, origin, problems);
  trainChecks(spec, origin, problems);
  fineTuneChecks(spec, origin, problems);
  samplerChecks(spec, origin, problems);
  ringSizeChecks(spec, origin, problems);
}

/** The heartbeat against the lease; class weights against each other and the task. */
function leaseAndWeightChecks(spec: JobSpec, origin: Map<string, string>, problems: string[]): void {
  const { heartbeatIntervalSec: beat, leaseTimeoutSec: lease } = spec.cluster;
  if (beat >= lease) {
    const source = origin.get('cluster.leaseTimeoutSec') ?? origin.get('cluster.heartbeatIntervalSec') ?? 'defaults';
    problems.push(
      `${source}: cluster.heartbeatIntervalSec (${beat}) must be less than ` +
        `cluster.leaseTimeoutSec (${lease}), ` +
        'or a healthy worker is declared lost between two heartbeats',
    );
  }
  const weighted = spec.train.classWeights.length > 0;
  if (weighted && spec.train.balanceClasses) {
    problems.push(
      `${origin.get('train.balanceClasses') ?? 'defaults'}: train.classWeights and train.balanceClasses both set the class weights: keep one (balanceClasses computes them from the training split)`,
    );
  }
  if ((weighted || spec.train.balanceClasses) && spec.data.task === 'regression') {
    const field = weighted ? 'train.classWeights' : 'train.balanceClasses';
    problems.push(
      `${origin.get(field) ?? 'defaults'}: ${field} applies to classification, but data.task is regression (mean squared error): remove ${field}`,
    );
  }
  if (weighted && spec.train.classWeights.every((w) => w === 0)) {
    problems.push(
      `${origin.get('train.classWeights') ?? 'defaults'}: train.classWeights are all 0, so no sample would count: give the classes to train on a weight above 0`,
    );
  }
}

/** A layer list or a module that is actually given. */
function modelChecks(spec: JobSpec, origin: Map<string, string>, problems: string[]): void {
  if (spec.model.kind === 'layers' && spec.model.layers.length === 0) {
    const source = origin.get('model.kind') ?? 'defaults';
    problems.push(
      `${source}: model.kind is layers but model.layers is empty: list the model's layers, e.g. [{type: dense, units: 128, activation: relu}] (the input and output layers are added)`,
    );
  }
  if (spec.model.kind === 'module' && spec.model.module === '') {
    const source = origin.get('model.kind') ?? 'defaults';
    problems.push(
      `${source}: model.kind is module but model.module is empty: set model.module to a .js file exporting buildModel(ctx) (see examples/my-model.js)`,
    );
  }
}

/** TLS needs its three files. */
function tlsChecks(spec: JobSpec, origin: Map<string, string>, problems: string[]): void {
  const { certFile, keyFile, caFile } = spec.security;
  const tlsSet = [certFile, keyFile, caFile].filter((f) => f !== '').length;
  if (tlsSet > 0 && tlsSet < 3) {
    problems.push(
      `${origin.get('security.certFile') ?? origin.get('security.caFile') ?? origin.get('security.keyFile') ?? 'defaults'}: TLS needs all of security.certFile, security.keyFile and security.caFile (got ${tlsSet} of 3)`,
    );
  }
  if (spec.security.mutualTls && tlsSet === 0)
    problems.push(
      `${origin.get('security.mutualTls') ?? 'defaults'}: security.mutualTls needs security.certFile, keyFile and caFile`,
    );
}

/** Label smoothing against the task, and the onecycle schedule's combinations that cannot work. */
function trainChecks(spec: JobSpec, origin: Map<string, string>, problems: string[]): void {
  if (spec.train.labelSmoothing > 0 && spec.data.task === 'regression') {
    const source = origin.get('train.labelSmoothing') ?? 'defaults';
    problems.push(
      `${source}: train.labelSmoothing (${spec.train.labelSmoothing}) applies to classification, but data.task is regression (mean squared error): set train.labelSmoothing to 0`,
    );
  }
  const sch = spec.train.schedule;
  if (sch.name === 'onecycle' && sch.warmup > 0) {
    const source = origin.get('train.schedule.warmup') ?? 'defaults';
    problems.push(
      `${source}: train.schedule.warmup (${sch.warmup}) does not combine with the onecycle schedule, which warms up itself (train.schedule.pctStart of the cycle): set train.schedule.warmup to 0`,
    );
  }
  const { optimizer, momentum } = spec.train;
  if (sch.name === 'onecycle' && sch.threePhase && sch.pctStart >= 0.5) {
    const source = origin.get('train.schedule.pctStart') ?? origin.get('train.schedule.threePhase') ?? 'defaults';
    problems.push(
      `${source}: with train.schedule.threePhase the climb and the way back down take 2 x pctStart (${sch.pctStart}) of the cycle, leaving nothing for the final phase: set train.schedule.pctStart below 0.5 (e.g. 0.3)`,
    );
  }
  if (
    sch.name === 'onecycle' &&
    sch.cycleMomentum &&
    (optimizer === 'sgd' || optimizer === 'rmsprop') &&
    momentum <= 0
  ) {
    const source = origin.get('train.schedule.name') ?? 'defaults';
    problems.push(
      `${source}: the onecycle schedule cycles momentum, but train.optimizer ${optimizer} has train.momentum 0 (torch refuses this too): set train.momentum (e.g. 0.9) or train.schedule.cycleMomentum to false`,
    );
  }
}

/** How far the ring may shrink, and leaving lost workers out only where it may. */
function ringSizeChecks(spec: JobSpec, origin: Map<string, string>, problems: string[]): void {
  const { minWorkers, worldSize } = spec.cluster;
  if (minWorkers > worldSize) {
    const source = origin.get('cluster.minWorkers') ?? origin.get('cluster.worldSize') ?? 'defaults';
    problems.push(
      `${source}: cluster.minWorkers (${minWorkers}) must not exceed cluster.worldSize (${worldSize}): a ring never has more than worldSize workers`,
    );
  }
  const { restartWorkers, maxRestarts } = spec.cluster;
  if (!restartWorkers && !ringMayShrink(spec.cluster)) {
    const source = origin.get('cluster.restartWorkers') ?? 'defaults';
    problems.push(
      `${source}: cluster.restartWorkers false leaves a lost worker out, but this ring may not shrink (cluster.minWorkers ${minWorkers}, cluster.worldSize ${worldSize}, cluster.maxRestarts ${maxRestarts}): set cluster.minWorkers between 1 and worldSize - 1 and cluster.maxRestarts > 0, or remove cluster.restartWorkers`,
    );
  }
}

/** model.initFrom / freeze and train.prune / distill: combinations that cannot work. */
function fineTuneChecks(spec: JobSpec, origin: Map<string, string>, problems: string[]): void {
  const from = (path: string): string => origin.get(path) ?? 'defaults';
  const m = spec.model;
  if (m.kind === 'module' && m.initializer !== 'auto') {
    problems.push(
      `${from('model.initializer')}: model.initializer applies to the built-in models; a module builds its own layers: choose the initializer in its buildModel (ctx.tfl.initializers) and remove model.initializer`,
    );
  }
  if (m.freeze.length > 0 && m.freezeAllButLast > 0) {
    problems.push(
      `${from('model.freezeAllButLast')}: model.freeze and model.freezeAllButLast both choose the frozen layers: keep one`,
    );
  }
  if (m.initSkip.length > 0 && m.initFrom === '') {
    problems.push(
      `${from('model.initSkip')}: model.initSkip names layers to leave fresh under model.initFrom, which is not set: set model.initFrom to a saved model or checkpoint directory, or remove model.initSkip`,
    );
  }
  const { prune, distill, epochs } = spec.train;
  if (prune.sparsity > 0) {
    if (prune.startEpoch > epochs)
      problems.push(
        `${from('train.prune.startEpoch')}: train.prune.startEpoch (${prune.startEpoch}) is after the last epoch (train.epochs ${epochs}), so nothing would be pruned: lower it or train longer`,
      );
    if (prune.endEpoch > epochs)
      problems.push(
        `${from('train.prune.endEpoch')}: train.prune.endEpoch (${prune.endEpoch}) is after the last epoch (train.epochs ${epochs}): lower it, or 0 for the last epoch`,
      );
    if (prune.endEpoch > 0 && prune.endEpoch < prune.startEpoch)
      problems.push(
        `${from('train.prune.endEpoch')}: train.prune.endEpoch (${prune.endEpoch}) comes before train.prune.startEpoch (${prune.startEpoch}): give an epoch at or after it, or 0 for the last epoch`,
      );
  }
  if (distill.teacher !== '') {
    if (spec.data.task === 'regression')
      problems.push(
        `${from('train.distill.teacher')}: train.distill learns the teacher's class probabilities, but data.task is regression: remove train.distill.teacher`,
      );
    const weighted = spec.train.classWeights.length > 0 || spec.train.balanceClasses;
    if (weighted)
      problems.push(
        `${from('train.distill.teacher')}: train.distill does not combine with class weights (train.classWeights / balanceClasses), whose global normalization would also scale the teacher's term: keep one`,
      );
  }
}

function formatProblems(problems: string[]): string {
  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
  return [
    `invalid job spec (${count}):`,
    ...problems.map((p) => `  ${p}`),
    'Fix each field where its source sets it (the job file, RINGTRAIN_SET, or --set key=value); ' +
      'every field and its default is listed in src/config/job-spec.ts.',
  ].join('\n');
}
