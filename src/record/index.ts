/**
 * The live record of a run, written while it trains: the RunRecorder a worker's loop tells each
 * step and epoch, and the run directory's files (their names, line shapes and tolerant readers)
 * that `ringtrain report` later renders (src/report/).
 */
export { RunRecorder } from './run-recorder';
export {
  unpackTiming,
  toTensorBoard,
  PROGRESS_INTERVAL_MS,
  SINK_INTERVAL_MS,
  type RunRecorderOptions,
  type StepInfo,
  type StepSpan,
  type DiagnosticsInput,
  type EpochInput,
  type ProgressSink,
} from './recorder-inputs';
export {
  RUN_FILES,
  appendJsonLines,
  readRunFiles,
  readJsonLines,
  type RunFiles,
  type MetricsLine,
  type StepLine,
  type DiagnosticsLine,
  type HistogramLine,
  type TimingLine,
  type RankTiming,
} from './run-files';
export {
  writeHParams,
  hparamsOf,
  finalMetrics,
  type HParamsRun,
  type FinalSplit,
  type JobSettings,
} from './hparams-record';
