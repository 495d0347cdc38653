export { runWorker, type WorkerOptions, type WorkerSummary } from './run-worker';
export { CoordinatorClient, type JoinResult, type HeartbeatResult, type EpochReport, INITIAL_BACKOFF_MS, MAX_BACKOFF_MS } from './coordinator-client';
export { HeartbeatLoop, type Progress } from './heartbeat-loop';
export { ddpStep, syncInitialWeights, type DdpReplica, type StepResult, type StepTimes } from './ddp-step';
