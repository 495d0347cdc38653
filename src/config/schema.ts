/**
 * A declarative rule for every leaf of JobSpec. The set of paths is a type computed from
 * JobSpec, so the compiler refuses a schema that misses a field or names one that does not
 * exist, and each rule's kind must fit the field's type (an enum of BackendName for `backend`,
 * a numeric rule for a number). Types and defaults live in job-spec.ts; only the limits live here.
 */
import type { BackendName, JobSpec } from './job-spec';
import type { Activation, InitializerName, ModelKind } from './spec-model';
import type { DatasetKind, SamplerKind, TaskKind } from './spec-data';
import type {
  AnnealStrategy,
  FusedStepPolicy,
  OverlapPolicy,
  MonitorMetric,
  NonFinitePolicy,
  OptimizerName,
  ScheduleInterval,
  ScheduleName,
} from './spec-train';
import type { CompressionName, HierarchyName, TransportName } from './spec-cluster';
import type { ObserveSpec } from './spec-run';

/** Numeric bounds; `gt`/`lt` are exclusive, `min`/`max` inclusive. */
export interface Bounds {
  min?: number;
  max?: number;
  gt?: number;
  lt?: number;
}

export type NumberRule = ({ kind: 'int' } | { kind: 'number' }) & Bounds;
export interface StringRule {
  kind: 'string';
  /** '' is refused: the field names something (a job, a host) and has no "unset" meaning. */
  nonEmpty?: boolean;
}
export interface EnumRule<V extends string = string> {
  kind: 'enum';
  values: readonly V[];
}
/** A list of integers (layer widths) or of any finite numbers (per-class weights). */
export interface IntListRule {
  kind: 'int-list' | 'number-list';
  /** Bounds for every element. */
  each: Bounds;
  minLength: number;
}
/** A list of names (layers); which names exist is checked where the model is built. */
export interface StringListRule {
  kind: 'string-list';
  /** Shown in the error, e.g. `[dense_0, dense_1]`. */
  example: string;
}
export interface BoolRule {
  kind: 'bool';
}
/** A list of mappings (model.layers); what each mapping may hold is checked where it is used. */
export interface MappingListRule {
  kind: 'mapping-list';
  /** Shown in the error, e.g. `[{type: dense, units: 128}]`. */
  example: string;
}
export type FieldRule = NumberRule | StringRule | EnumRule | IntListRule | StringListRule | BoolRule | MappingListRule;

type Leaf = string | number | boolean | readonly unknown[];

/** 'name' | 'data.batchSize' | ... : every leaf path of T, dotted. */
export type LeafPath<T, Prefix extends string = ''> = {
  [K in keyof T & string]: T[K] extends Leaf ? `${Prefix}${K}` : LeafPath<T[K], `${Prefix}${K}.`>;
}[keyof T & string];

type ValueAt<T, P extends string> = P extends `${infer Head}.${infer Rest}`
  ? Head extends keyof T
    ? ValueAt<T[Head], Rest>
    : never
  : P extends keyof T
    ? T[P]
    : never;

/** The rule kinds that fit a field of type V (string unions get an enum, never free text). */
type RuleFor<V> = [V] extends [readonly number[]]
  ? IntListRule
  : [V] extends [readonly string[]]
    ? StringListRule
    : [V] extends [readonly object[]]
      ? MappingListRule
      : [V] extends [number]
        ? NumberRule
        : [V] extends [boolean]
          ? BoolRule
          : string extends V
            ? StringRule | EnumRule
            : EnumRule<V & string>;

export type JobPath = LeafPath<JobSpec>;
export type JobSchema = { readonly [P in JobPath]: RuleFor<ValueAt<JobSpec, P>> };

/**
 * Lists a string union's members; the extra parameter fails to type-check unless the list
 * covers the whole union, so adding a backend to job-spec.ts without adding it here is an error.
 */
function allOf<V extends string>() {
  return <const L extends readonly V[]>(values: L & ([V] extends [L[number]] ? unknown : never)) =>
    ({ kind: 'enum', values }) as EnumRule<V>;
}

/** Ports: 0 means "any free port" to the OS. */
const PORT: NumberRule = { kind: 'int', min: 0, max: 65535 };
/** Durations in seconds: fractions are fine (0.5 s heartbeats), zero or less never is. */
const SECONDS: NumberRule = { kind: 'number', gt: 0 };
/** "0 = no limit" counts. */
const COUNT: NumberRule = { kind: 'int', min: 0 };

export const JOB_SCHEMA: JobSchema = {
  name: { kind: 'string', nonEmpty: true },
  seed: { kind: 'int', min: 0, max: 2 ** 32 - 1 },
  backend: allOf<BackendName>()(['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']),
  'model.kind': allOf<ModelKind>()(['mlp', 'cnn', 'resnet', 'layers', 'module']),
  'model.hidden': { kind: 'int-list', each: { min: 1 }, minLength: 1 },
  'model.activation': allOf<Activation>()(['relu', 'tanh', 'sigmoid', 'leakyRelu']),
  'model.initializer': allOf<InitializerName>()(['auto', 'he-normal', 'he-uniform', 'xavier-normal', 'xavier-uniform']),
  'model.initFrom': { kind: 'string' },
  'model.initSkip': { kind: 'string-list', example: '[logits]' },
  'model.freeze': { kind: 'string-list', example: '[dense_0, dense_1]' },
  'model.freezeAllButLast': COUNT,
  'model.dropout': { kind: 'number', min: 0, lt: 1 },
  'model.channels': { kind: 'int-list', each: { min: 1 }, minLength: 0 },
  'model.blocks': { kind: 'int', min: 1 },
  'model.module': { kind: 'string' },
  'model.layers': { kind: 'mapping-list', example: '[{type: dense, units: 128, activation: relu}]' },
  'data.dataset': allOf<DatasetKind>()(['mnist', 'idx', 'csv', 'module']),
  'data.batchSize': { kind: 'int', min: 1 },
  'data.shuffle': { kind: 'bool' },
  'data.trainLimit': COUNT,
  'data.testLimit': COUNT,
  'data.dir': { kind: 'string' },
  'data.trainFile': { kind: 'string' },
  'data.testFile': { kind: 'string' },
  'data.target': { kind: 'string' },
  'data.task': allOf<TaskKind>()(['classification', 'regression']),
  'data.classes': COUNT,
  'data.valFraction': { kind: 'number', min: 0, lt: 1 },
  'data.module': { kind: 'string' },
  'data.augment.cropPadding': COUNT,
  'data.augment.flip': { kind: 'bool' },
  'data.augment.rotate': { kind: 'number', min: 0, max: 180 },
  'data.augment.threads': { kind: 'int', min: 0, max: 8 },
  'data.sampler.kind': allOf<SamplerKind>()(['distributed', 'weighted', 'balanced']),
  'data.sampler.weights': { kind: 'number-list', each: { min: 0 }, minLength: 0 },
  'train.epochs': { kind: 'int', min: 1 },
  'train.maxSteps': COUNT,
  'train.optimizer': allOf<OptimizerName>()(['sgd', 'adam', 'adamw', 'rmsprop']),
  'train.lr': { kind: 'number', gt: 0 },
  'train.momentum': { kind: 'number', min: 0, lt: 1 },
  'train.nesterov': { kind: 'bool' },
  'train.weightDecay': { kind: 'number', min: 0 },
  'train.decayBiasAndNorm': { kind: 'bool' },
  'train.beta1': { kind: 'number', min: 0, lt: 1 },
  'train.beta2': { kind: 'number', min: 0, lt: 1 },
  'train.eps': { kind: 'number', gt: 0 },
  'train.alpha': { kind: 'number', min: 0, lt: 1 },
  'train.scaleLr': { kind: 'bool' },
  'train.accumulate': { kind: 'int', min: 1 },
  'train.clipNorm': { kind: 'number', min: 0 },
  'train.nonFinite': allOf<NonFinitePolicy>()(['skip', 'stop']),
  'train.maxSkippedSteps': COUNT,
  'train.fusedStep': allOf<FusedStepPolicy>()(['auto', 'off']),
  'train.overlapBackward': allOf<OverlapPolicy>()(['auto', 'on', 'off']),
  'train.labelSmoothing': { kind: 'number', min: 0, max: 1 },
  'train.classWeights': { kind: 'number-list', each: { min: 0 }, minLength: 0 },
  'train.balanceClasses': { kind: 'bool' },
  'train.monitor': allOf<MonitorMetric>()(['loss', 'accuracy', 'mse', 'mae']),
  'train.schedule.name': allOf<ScheduleName>()([
    'constant',
    'step',
    'multistep',
    'exponential',
    'cosine',
    'cosine-restarts',
    'polynomial',
    'onecycle',
    'plateau',
  ]),
  'train.schedule.interval': allOf<ScheduleInterval>()(['epoch', 'step']),
  'train.schedule.warmup': COUNT,
  'train.schedule.warmupStartFactor': { kind: 'number', gt: 0, max: 1 },
  'train.schedule.stepSize': { kind: 'int', min: 1 },
  'train.schedule.milestones': { kind: 'int-list', each: { min: 1 }, minLength: 0 },
  'train.schedule.gamma': { kind: 'number', gt: 0, max: 1 },
  'train.schedule.tMax': COUNT,
  'train.schedule.tMult': { kind: 'int', min: 1 },
  'train.schedule.etaMin': { kind: 'number', min: 0 },
  'train.schedule.power': { kind: 'number', gt: 0 },
  'train.schedule.pctStart': { kind: 'number', gt: 0, lt: 1 },
  'train.schedule.divFactor': { kind: 'number', gt: 0 },
  'train.schedule.finalDivFactor': { kind: 'number', gt: 0 },
  'train.schedule.anneal': allOf<AnnealStrategy>()(['cos', 'linear']),
  'train.schedule.threePhase': { kind: 'bool' },
  'train.schedule.cycleMomentum': { kind: 'bool' },
  'train.schedule.baseMomentum': { kind: 'number', min: 0, lt: 1 },
  'train.schedule.maxMomentum': { kind: 'number', min: 0, lt: 1 },
  'train.schedule.factor': { kind: 'number', gt: 0, lt: 1 },
  'train.schedule.patience': COUNT,
  'train.schedule.threshold': { kind: 'number', min: 0 },
  'train.schedule.cooldown': COUNT,
  'train.schedule.minLr': { kind: 'number', min: 0 },
  'train.prune.sparsity': { kind: 'number', min: 0, lt: 1 },
  'train.prune.startEpoch': { kind: 'int', min: 1 },
  'train.prune.endEpoch': COUNT,
  'train.distill.teacher': { kind: 'string' },
  'train.distill.temperature': { kind: 'number', gt: 0 },
  'train.distill.alpha': { kind: 'number', min: 0, max: 1 },
  'train.earlyStopping.patience': COUNT,
  'train.earlyStopping.minDelta': { kind: 'number', min: 0 },
  'train.earlyStopping.restoreBest': { kind: 'bool' },
  'checkpoint.everySteps': COUNT,
  'checkpoint.everyEpochs': COUNT,
  'checkpoint.keep': { kind: 'int', min: 1 },
  'checkpoint.dir': { kind: 'string' },
  'checkpoint.atStart': { kind: 'bool' },
  'cluster.worldSize': { kind: 'int', min: 1 },
  'cluster.joinTimeoutSec': SECONDS,
  'cluster.heartbeatIntervalSec': SECONDS,
  'cluster.leaseTimeoutSec': SECONDS,
  'cluster.collectiveTimeoutSec': SECONDS,
  'cluster.connectTimeoutSec': SECONDS,
  'cluster.activeDeadlineSec': COUNT,
  'cluster.ringPort': PORT,
  'cluster.transport': allOf<TransportName>()(['grpc', 'tcp']),
  'cluster.compression': allOf<CompressionName>()(['none', 'fp16', 'bf16']),
  'cluster.bucketCapMb': { kind: 'number', gt: 0 },
  'cluster.sharedMemoryMb': { kind: 'int', min: 0, max: 4095 },
  'cluster.pollMicros': { kind: 'int', min: 0, max: 1_000_000 },
  'cluster.hierarchy': allOf<HierarchyName>()(['auto', 'flat']),
  'cluster.minWorkers': COUNT,
  'cluster.maxRestarts': COUNT,
  'cluster.restartWorkers': { kind: 'bool' },
  'cluster.lastCallSec': { kind: 'number', min: 0 },
  'observe.metricsHost': { kind: 'string', nonEmpty: true },
  'observe.metricsPort': PORT,
  'observe.workerMetricsPort': PORT,
  'observe.logLevel': allOf<ObserveSpec['logLevel']>()(['trace', 'debug', 'info', 'warn', 'error']),
  'observe.logEverySteps': { kind: 'int', min: 1 },
  'security.tokenFile': { kind: 'string' },
  'security.certFile': { kind: 'string' },
  'security.keyFile': { kind: 'string' },
  'security.caFile': { kind: 'string' },
  'security.mutualTls': { kind: 'bool' },
  outDir: { kind: 'string' },
};

/** The schema as a plain lookup, for code that walks paths it got from user input. */
export function ruleFor(path: string): FieldRule | undefined {
  const rules: Readonly<Record<string, FieldRule>> = JOB_SCHEMA;
  return Object.hasOwn(rules, path) ? rules[path] : undefined;
}

export function schemaPaths(): string[] {
  return Object.keys(JOB_SCHEMA);
}

/** Every leaf path of a plain object tree, in key order; lists are leaves. */
export function leafPaths(tree: object, prefix = ''): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(tree)) {
    const path = prefix + key;
    if (isPlainObject(value)) out.push(...leafPaths(value, `${path}.`));
    else out.push(path);
  }
  return out;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function describeBounds(b: Bounds): string {
  const parts: string[] = [];
  if (b.min !== undefined) parts.push(`>= ${b.min}`);
  if (b.gt !== undefined) parts.push(`> ${b.gt}`);
  if (b.max !== undefined) parts.push(`<= ${b.max}`);
  if (b.lt !== undefined) parts.push(`< ${b.lt}`);
  return parts.join(' and ');
}

/** "an integer >= 1", "one of 'relu', 'tanh', 'sigmoid'": the expectation in error messages. */
export function describeRule(rule: FieldRule): string {
  switch (rule.kind) {
    case 'int':
    case 'number': {
      const noun = rule.kind === 'int' ? 'an integer' : 'a number';
      const bounds = describeBounds(rule);
      return bounds ? `${noun} ${bounds}` : noun;
    }
    case 'string':
      return rule.nonEmpty ? 'a non-empty string' : 'a string';
    case 'enum':
      return `one of ${rule.values.map((v) => `'${v}'`).join(', ')}`;
    case 'bool':
      return 'true or false';
    case 'mapping-list':
      return `a list of mappings, like ${rule.example}`;
    case 'string-list':
      return `a list of names, like ${rule.example}`;
    case 'int-list':
    case 'number-list': {
      const bounds = describeBounds(rule.each);
      const n = rule.minLength;
      const list = n === 0 ? 'a list' : n === 1 ? 'a non-empty list' : `a list of at least ${n}`;
      const like = rule.kind === 'int-list' ? 'integers' : 'numbers';
      const example = rule.kind === 'int-list' ? '[256, 128]' : '[1, 2.5, 0.5]';
      return `${list} of ${like}${bounds ? ` ${bounds}` : ''}, like ${example}`;
    }
  }
}
