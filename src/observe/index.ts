export {
  createLogger,
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
export { createProcessMetrics } from './metrics-process';
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
export { EventFileWriter, FLUSH_INTERVAL_MS, type EventFileWriterOptions } from './tensorboard-writer';
export {
  EXPERIMENT_TAG,
  HPARAMS_PLUGIN,
  SESSION_END_TAG,
  SESSION_START_TAG,
  encodeHParamsEvent,
  experimentContent,
  sessionEndContent,
  sessionStartContent,
  type HParamValue,
  type HParamsMetric,
  type SessionStatus,
} from './tensorboard-hparams';
export {
  readEventFile,
  decodeEvent,
  decodeHParamsContent,
  eventFilesIn,
  scalarsByTag,
  type DecodedEvent,
  type DecodedValue,
  type EventFileContents,
  type ScalarPoint,
} from './tensorboard-reader';
export { crc32c, maskedCrc32c, frameRecord, splitRecords, type RecordSplit } from './tensorboard-records';
export { encodeSummaryEvent, encodeFileVersionEvent, type HistogramData, type SummaryValue } from './tensorboard-proto';
export { mergeTraceFiles } from './trace-merge';
export { STEPS_TRACK, TraceWriter, WIRE_TRACK } from './trace-writer';
export { statusPageRoutes, STATUS_PAGE_HTML } from './status-page';
export {
  appendBounded,
  msPerStep,
  MAX_POINTS,
  type StatusSnapshot,
  type StepPoint,
  type StepTiming,
  type WorkerRow,
  type EpochPoint,
} from './status-page-data';
