/**
 * A disk that fills up for a while must not end a job whose state lives in memory on every
 * rank. The run's records (metrics.jsonl, the report's JSONL files, TensorBoard events) and its
 * checkpoints are skipped while they cannot be written, with an error line that names the file;
 * the saved model at the end is not skipped, so a disk that stays full still fails the job,
 * naming that file.
 */
import { isRingtrainError } from '../core';
import type { Logger } from '../observe';

/** At most one error line per this long, so a full disk does not flood the log it may not even reach. */
export const FULL_DISK_LOG_EVERY_MS = 30_000;

export class FullDiskGuard {
  private lastLogMs = -Infinity;
  /** Writes skipped so far. */
  skipped = 0;

  constructor(
    private readonly log: () => Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Runs `write`; a failed write (WRITE_FAILED) is logged and skipped, anything else thrown. */
  run<T>(what: string, write: () => T): T | undefined {
    try {
      return write();
    } catch (e) {
      this.skip(what, e);
      return undefined;
    }
  }

  skip(what: string, e: unknown): void {
    if (!isRingtrainError(e) || e.code !== 'WRITE_FAILED') throw e;
    this.skipped += 1;
    if (this.now() - this.lastLogMs < FULL_DISK_LOG_EVERY_MS) return;
    this.lastLogMs = this.now();
    this.log().error(
      { event: 'write-skipped', skipped: this.skipped },
      `${what} skipped: ${e.message}; training goes on (the last checkpoint written stays the one to resume from)`,
    );
  }
}

/**
 * Runs `write` (the saved model: it must not be skipped) again while it fails for want of room,
 * for at most `budgetMs`, so a disk full for a while at the very end is waited out. The other
 * ranks wait at the final barrier meanwhile: the caller keeps the budget under its timeout.
 */
export async function retryWhileFull<T>(
  what: string,
  write: () => Promise<T>,
  budgetMs: number,
  log: Logger,
): Promise<T> {
  const until = Date.now() + budgetMs;
  for (let warned = false; ; warned = true) {
    try {
      return await write();
    } catch (e) {
      if (!isRingtrainError(e) || e.code !== 'WRITE_FAILED' || Date.now() >= until) throw e;
      if (!warned)
        log.warn(
          { event: 'waiting-for-disk' },
          `${what}: ${e.message}; trying again for up to ${(budgetMs / 1000).toFixed(0)} s`,
        );
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}
