export { launch, defaultRunDir, STOP_GRACE_MS, type LaunchOptions } from './launch';
export { displayLine, formatEpoch, parseRecord, type LogRecord } from './format';
