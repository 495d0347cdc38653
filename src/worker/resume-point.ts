/** Where a job whose every worker was replaced starts from. */
import type { JobSpec } from '../config';
import type { Logger } from '../observe';
import { findLatestCheckpoint } from './checkpoint-store';
import { checkpointDirOf } from './run-dir';

/**
 * Nobody holds the live state any more (every worker was replaced): the latest checkpoint is the
 * best there is; without one the job starts over, and says so.
 */
export function resumePointAfterLoss(
  o: { resumeFrom?: string; outDir: string },
  spec: JobSpec,
  log: Logger,
): string | undefined {
  const dir = o.resumeFrom ?? checkpointDirOf(spec, o.outDir);
  if (dir !== '' && findLatestCheckpoint(dir, () => undefined) !== undefined) return dir;
  log.warn(
    { event: 'no-checkpoint' },
    `no worker kept the training state and ${dir || 'no checkpoint directory'} holds no checkpoint: training starts over`,
  );
  return undefined;
}
