/**
 * train.overlapBackward: auto measures whether overlapping the backward pass with the all-reduce
 * pays on this ring, as Horovod's autotuner measures its knobs: after a warm-up, the step runs
 * in alternating blocks with and without overlap, then every rank all-reduces the two mean step
 * times and keeps the faster way. On a link that carries the gradients in well under a backward
 * pass, the pauses and the transfer's work inside backward can cost more than they hide.
 * Deterministic in the step count, so every rank switches at the same step.
 */
export interface OverlapTrial {
  /** Steps before the trial (JIT warm-up), all with overlap. */
  after: number;
  /** Steps per block; blocks alternate with and without overlap, starting with. */
  block: number;
  /** Blocks in the trial (even: as many of each). */
  blocks: number;
}

export const DEFAULT_TRIAL: OverlapTrial = { after: 30, block: 10, blocks: 8 };

/** Overlap is kept unless the plain step is faster by more than this share (the measurement's noise). */
const KEEP_OVERLAP_WITHIN = 0.02;

export class OverlapTuner {
  private steps = 0;
  private readonly seconds: [number, number] = [0, 0];
  private readonly counts: [number, number] = [0, 0];
  private decision: boolean | undefined;

  constructor(private readonly trial: OverlapTrial = DEFAULT_TRIAL) {
    if (!(trial.block >= 1 && trial.blocks >= 2 && trial.blocks % 2 === 0 && trial.after >= 0))
      throw new Error(`an overlap trial needs block >= 1, an even number of blocks >= 2, after >= 0`);
  }

  /** Whether the next step overlaps. */
  get overlapNext(): boolean {
    if (this.decision !== undefined) return this.decision;
    const k = this.steps - this.trial.after;
    return k < 0 || Math.floor(k / this.trial.block) % 2 === 0;
  }

  /** The step that just ran, with overlapNext's answer, took `seconds`. */
  record(overlapped: boolean, seconds: number): void {
    if (this.decision === undefined && this.steps >= this.trial.after) {
      const i = overlapped ? 0 : 1;
      this.seconds[i] += seconds;
      this.counts[i] += 1;
    }
    this.steps += 1;
  }

  /** Until decide: the steps still count toward the trial. */
  get inTrial(): boolean {
    return this.decision === undefined;
  }

  /** True right after the trial's last step: every rank then calls decide with the all-reduced means. */
  get due(): boolean {
    return this.decision === undefined && this.steps === this.trial.after + this.trial.block * this.trial.blocks;
  }

  /** This rank's mean step seconds with and without overlap over the trial. */
  means(): [number, number] {
    return [this.seconds[0] / Math.max(1, this.counts[0]), this.seconds[1] / Math.max(1, this.counts[1])];
  }

  /** Keeps overlap unless the plain step was faster by more than the noise; from the means every rank agrees on. */
  decide(withOverlap: number, without: number): boolean {
    this.decision = !(without < withOverlap * (1 - KEEP_OVERLAP_WITHIN));
    return this.decision;
  }
}

/** Rank 0's log line for overlap auto's choice, with both mean step times. */
export function overlapTunedLine(
  overlap: boolean,
  secondsWith: number,
  secondsWithout: number,
): { fields: Record<string, unknown>; msg: string } {
  const ms = (x: number): string => (x * 1000).toFixed(2);
  return {
    fields: { event: 'overlap-tuned', overlap, msWith: secondsWith * 1000, msWithout: secondsWithout * 1000 },
    msg: `train.overlapBackward auto: ${overlap ? 'overlapping' : 'not overlapping'} the backward pass with the all-reduce (a step took ${ms(secondsWith)} ms with overlap, ${ms(secondsWithout)} ms without, mean over the ranks)`,
  };
}
