/**
 * Naming stragglers. In a synchronous ring every rank waits for the slowest one, so a slow rank
 * hides: everyone's step time is the same. What differs is where the time goes: the straggler
 * is busy (data + compute + update) while the others wait in communication. Each heartbeat
 * carries a rank's cumulative busy seconds and steps; per interval we take busy seconds per step,
 * and a rank whose figure stays above `ratio` x the median of the others for `patience`
 * consecutive intervals is a straggler. Pure: time and figures come in, a verdict goes out.
 */

export interface StragglerOptions {
  /** How much slower than the median counts as slow (1.3 = 30% more busy time per step). */
  ratio: number;
  /** Consecutive slow intervals before a rank is named (one slow interval is noise). */
  patience: number;
}

export const DEFAULT_STRAGGLER_OPTIONS: StragglerOptions = { ratio: 1.3, patience: 3 };

interface RankTrack {
  lastBusy: number;
  lastStep: number;
  perStep: number | undefined;
  slowIntervals: number;
}

export interface Straggler {
  rank: number;
  /** This rank's busy seconds per step over the median of the others. */
  ratio: number;
}

export class StragglerDetector {
  private readonly ranks = new Map<number, RankTrack>();

  constructor(private readonly opts: StragglerOptions = DEFAULT_STRAGGLER_OPTIONS) {}

  /** Feeds one heartbeat's cumulative figures. */
  observe(rank: number, step: number, busySeconds: number): void {
    const t = this.ranks.get(rank);
    if (t === undefined) {
      this.ranks.set(rank, { lastBusy: busySeconds, lastStep: step, perStep: undefined, slowIntervals: 0 });
      return;
    }
    const steps = step - t.lastStep;
    if (steps <= 0) return;
    t.perStep = (busySeconds - t.lastBusy) / steps;
    t.lastBusy = busySeconds;
    t.lastStep = step;
    this.judge(rank);
  }

  /** Ranks currently named as stragglers, slowest first. */
  stragglers(): Straggler[] {
    const out: Straggler[] = [];
    for (const [rank, t] of this.ranks) {
      if (t.slowIntervals < this.opts.patience || t.perStep === undefined) continue;
      out.push({ rank, ratio: t.perStep / this.medianOfOthers(rank) });
    }
    return out.sort((a, b) => b.ratio - a.ratio);
  }

  isStraggler(rank: number): boolean {
    const t = this.ranks.get(rank);
    return t !== undefined && t.slowIntervals >= this.opts.patience;
  }

  /** Forget everything (a new generation has other ranks). */
  reset(): void {
    this.ranks.clear();
  }

  private judge(rank: number): void {
    const t = this.ranks.get(rank) as RankTrack;
    const median = this.medianOfOthers(rank);
    if (!Number.isFinite(median) || median <= 0 || t.perStep === undefined) return;
    t.slowIntervals = t.perStep > this.opts.ratio * median ? t.slowIntervals + 1 : 0;
  }

  private medianOfOthers(rank: number): number {
    const xs = [...this.ranks.entries()]
      .filter(([r, t]) => r !== rank && t.perStep !== undefined)
      .map(([, t]) => t.perStep as number)
      .sort((a, b) => a - b);
    if (xs.length === 0) return NaN;
    const mid = Math.floor(xs.length / 2);
    return xs.length % 2 === 1 ? (xs[mid] as number) : ((xs[mid - 1] as number) + (xs[mid] as number)) / 2;
  }
}
