export { runWorker, type WorkerOptions, type WorkerSummary } from './run-worker';
export {
  CoordinatorClient,
  type JoinResult,
  type HeartbeatResult,
  type EpochReport,
  type ProgressUpdate,
  INITIAL_BACKOFF_MS,
  MAX_BACKOFF_MS,
} from './coordinator-client';
export { HeartbeatLoop, type Progress } from './heartbeat-loop';
export {
  TrainLoop,
  type TrainLoopOptions,
  type TrainHooks,
  type TrainResult,
  type EpochSummary,
  type LoopData,
  type StepTimes,
} from './train-loop';
export {
  writeCheckpoint,
  readCheckpoint,
  findLatestCheckpoint,
  listCheckpoints,
  checkpointName,
  type Checkpoint,
} from './checkpoint-store';
export { evaluateSplit, type SplitMetrics } from './evaluate-split';
export { checkpointDirOf, writesCheckpoints } from './run-dir';
export { exportRankEnv, localRankOf, type RankEnv } from './rank-env';
export { StepRunner, type StepParts, type StepInput, type StepResult, type BatchSource } from './step-runner';
export { systemClock, secondsSince, type Clock } from './clock';
