/**
 * The config module's public surface: the job spec type and its defaults, loading from file /
 * env / --set, validation, and the job hash workers compare.
 */
export type {
  Activation,
  BackendName,
  CheckpointSpec,
  ClusterSpec,
  AugmentSpec,
  DataSpec,
  DatasetKind,
  TaskKind,
  EarlyStoppingSpec,
  MonitorMetric,
  NonFinitePolicy,
  OptimizerName,
  ScheduleInterval,
  ScheduleName,
  ScheduleSpec,
  JobSpec,
  ModelSpec,
  ObserveSpec,
  TrainSpec,
} from './job-spec';
export { DEFAULT_JOB } from './job-spec';
export { isRingtrainError, RingtrainError, type RingtrainErrorCode } from './errors';
export { ENV_SET, jobHash, trainingFingerprint, loadJob, type LoadJobOptions } from './load';
export { parseSetArgs } from './overrides';
export { JOB_SCHEMA, describeRule, type FieldRule, type JobPath } from './schema';
export { ringMayShrink, validateJob, validateJobLayers, type ConfigLayer } from './validate';
export { resolveJoinToken, TOKEN_ENV } from './join-token';
export { loadTlsFiles, type TlsFiles } from './tls-files';
