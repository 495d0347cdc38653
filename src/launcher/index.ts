export { launch, defaultRunDir, STOP_GRACE_MS, type LaunchOptions, type NodePlan } from './launch';
export { displayLine, formatEpoch, parseRecord, ProgressDisplay, formatProgressBar, formatProgressPlain, formatDuration, PLAIN_PROGRESS_INTERVAL_MS, type LogRecord, type Terminal } from './format';
export { CPU_BIND_MODES, allowedCpus, coreOrder, planCpuSets } from './cpu-plan';
