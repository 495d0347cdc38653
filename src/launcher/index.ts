export { launch, defaultRunDir } from './launch';
export type { LaunchOptions, NodePlan } from './launch-options';
export { STOP_GRACE_MS } from './supervisor';
export {
  displayLine,
  formatEpoch,
  parseRecord,
  ProgressDisplay,
  formatProgressBar,
  formatProgressPlain,
  formatDuration,
  PLAIN_PROGRESS_INTERVAL_MS,
  type LogRecord,
  type Terminal,
} from './format';
export { CPU_BIND_MODES, allowedCpus, coreOrder, planCpuSets } from './cpu-plan';
