export {
  createLogger,
  withGeneration,
  DEFAULT_LOG_LEVEL,
  type Logger,
  type LoggerOptions,
  type LogRole,
  type DestinationStream,
} from './logger';
export {
  createWorkerMetrics,
  STEP_PHASES,
  STEP_DURATION_BUCKETS,
  ALLREDUCE_DURATION_BUCKETS,
  type WorkerMetrics,
  type StepPhase,
} from './metrics-worker';
export {
  createCoordinatorMetrics,
  JOB_STATES,
  EPOCH_SPLITS,
  type CoordinatorMetrics,
  type JobState,
  type EpochSummary,
} from './metrics-coordinator';
export {
  startHttpServer,
  type HttpServerOptions,
  type RunningHttpServer,
  type HealthReport,
  type RouteHandler,
} from './http-server';
