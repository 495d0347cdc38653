/**
 * What a step with a NaN or infinite averaged loss or gradient does (train.nonFinite): stop the
 * job, or skip the update and count it, failing the job once train.maxSkippedSteps steps in a row
 * were skipped (a diverged run does not come back by skipping). It sees the all-reduced values,
 * so every rank decides the same at the same step.
 */
import { RingtrainError } from '../core';
import type { TrainSpec } from '../config';
import type { Logger, WorkerMetrics } from '../observe';
import type { TrainCounters } from './train-state';

export class NonFiniteGuard {
  /** Steps skipped since the last applied one. */
  private inARow = 0;

  constructor(
    private readonly t: TrainSpec,
    private readonly rank: number,
    private readonly log: Logger,
    private readonly metrics?: WorkerMetrics,
  ) {}

  /** A step was applied: the run of skipped steps ends. */
  applied(): void {
    this.inARow = 0;
  }

  /** Counts a non-finite step in `c` (0-based `epoch`); throws JOB_FAILED on stop or at the limit. */
  skip(c: TrainCounters, loss: number, norm: number, epoch: number): void {
    const what = `non-finite ${!Number.isFinite(loss) ? `loss (${loss})` : `gradient (global norm ${norm})`} at step ${c.step + 1}, epoch ${epoch + 1}`;
    if (this.t.nonFinite === 'stop') {
      this.metrics?.nonFiniteSteps.inc({ action: 'stop' });
      throw new RingtrainError(
        'JOB_FAILED',
        `${what}: stopping (train.nonFinite: stop). Lower train.lr, set train.clipNorm, check the data for NaN, or set train.nonFinite=skip to skip such steps`,
      );
    }
    c.nonFiniteSkipped += 1;
    this.inARow += 1;
    this.metrics?.nonFiniteSteps.inc({ action: 'skip' });
    const limit = this.t.maxSkippedSteps;
    if (limit > 0 && this.inARow >= limit) {
      throw new RingtrainError(
        'JOB_FAILED',
        `${what}: ${this.inARow} steps in a row skipped (train.maxSkippedSteps ${limit}; ${c.nonFiniteSkipped} skipped in all): training has diverged. ` +
          'Lower train.lr, set train.clipNorm, check the data for NaN, or raise train.maxSkippedSteps (0 = never fail)',
      );
    }
    if (this.rank === 0)
      this.log.warn(
        { event: 'nonfinite-skip', step: c.step + 1, loss, gradNorm: norm, skipped: c.nonFiniteSkipped },
        `${what}: update skipped (${c.nonFiniteSkipped} so far)`,
      );
  }
}
