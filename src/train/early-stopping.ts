/**
 * Early stopping on a monitored validation metric (Keras/Lightning semantics): an epoch improves
 * when the metric beats the best so far by more than minDelta; training stops once `patience`
 * epochs in a row did not improve. It is fed the all-reduced metric, so every rank stops at the
 * same epoch. Its counters are part of checkpoints.
 */

export interface EarlyStoppingState {
  best: number;
  /** 1-based epoch that set `best` (0 = none yet). */
  bestEpoch: number;
  /** Epochs since the last improvement. */
  wait: number;
}

export interface EarlyStoppingVerdict {
  improved: boolean;
  stop: boolean;
}

export class EarlyStopping {
  private s: EarlyStoppingState;

  constructor(
    private readonly patience: number,
    private readonly minDelta: number,
    private readonly mode: 'min' | 'max',
  ) {
    this.s = { best: mode === 'min' ? Infinity : -Infinity, bestEpoch: 0, wait: 0 };
  }

  get enabled(): boolean {
    return this.patience > 0;
  }

  /** Records epoch `epoch`'s (1-based) metric; `stop` only when enabled. */
  update(value: number, epoch: number): EarlyStoppingVerdict {
    const s = this.s;
    const improved = this.mode === 'min' ? value < s.best - this.minDelta : value > s.best + this.minDelta;
    if (improved) {
      s.best = value;
      s.bestEpoch = epoch;
      s.wait = 0;
    } else {
      s.wait += 1;
    }
    return { improved, stop: this.enabled && s.wait >= this.patience };
  }

  state(): EarlyStoppingState {
    return { ...this.s };
  }

  load(state: EarlyStoppingState): void {
    this.s = { ...state };
  }
}
