/**
 * At most one epoch-report call a second. With sub-second epochs (a small model on a small
 * dataset) a call per epoch had rank 0 handle a gRPC exchange every few dozen steps, each about a
 * millisecond of code that runs too rarely to be optimized, while its peers waited for it at the
 * next all-reduce. Epochs that end within the second go together in the next call.
 */
import { performance } from 'node:perf_hooks';

/** Least time from one epoch-report call to the next. */
export const REPORT_EVERY_MS = 1_000;

export class ReportPacer {
  private last = -Infinity;
  private wake: (() => void) | undefined;
  private flushing = false;

  constructor(private readonly everyMs: number = REPORT_EVERY_MS) {}

  /** Resolves when the next call may go: once everyMs has passed since the last one, or at flush(). */
  async turn(): Promise<void> {
    const wait = this.last + this.everyMs - performance.now();
    if (wait > 0 && !this.flushing) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => this.wake?.(), wait);
        this.wake = () => {
          clearTimeout(timer);
          this.wake = undefined;
          resolve();
        };
      });
    }
    this.last = performance.now();
  }

  /** From now on every call goes at once (the worker is finishing: the coordinator must see them all). */
  flush(): void {
    this.flushing = true;
    this.wake?.();
  }
}
