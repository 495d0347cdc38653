/**
 * The config module's public surface: the job spec type and its defaults, loading from file /
 * env / --set, validation, and the job hash workers compare.
 */
export type { BackendName, JobSpec } from './job-spec';
export type { Activation, InitializerName, ModelSpec } from './spec-model';
export type { AugmentSpec, DataSpec, DatasetKind, SamplerKind, SamplerSpec, TaskKind } from './spec-data';
export type {
  DistillSpec,
  EarlyStoppingSpec,
  MonitorMetric,
  NonFinitePolicy,
  OptimizerName,
  OverlapPolicy,
  PruneSpec,
  ScheduleInterval,
  ScheduleName,
  ScheduleSpec,
  TrainSpec,
} from './spec-train';
export type { ClusterSpec } from './spec-cluster';
export type { CheckpointSpec, ObserveSpec } from './spec-run';
export { DEFAULT_JOB } from './defaults';
export { ENV_SET, jobHash, trainingFingerprint, loadJob, type LoadJobOptions } from './load';
export { parseSetArgs } from './overrides';
export { closestName } from './suggest';
export { requireUserModule } from './user-module';
export { JOB_SCHEMA, describeRule, type FieldRule, type JobPath } from './schema';
export { ringMayShrink, validateJob, validateJobLayers, type ConfigLayer } from './validate';
export { resolveJoinToken, TOKEN_ENV } from './join-token';
export { loadTlsFiles, type TlsFiles } from './tls-files';
