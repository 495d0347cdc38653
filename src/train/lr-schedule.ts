/**
 * Learning-rate schedules with torch.optim.lr_scheduler's numbers: StepLR, MultiStepLR,
 * ExponentialLR, CosineAnnealingLR, CosineAnnealingWarmRestarts, PolynomialLR, OneCycleLR (with
 * its momentum cycle), ReduceLROnPlateau, with LinearLR warmup in front as SequentialLR chains
 * it (the main schedule starts counting at 0 when warmup ends).
 *
 * Closed-form schedules are pure functions of the tick, so their only state is the tick itself,
 * which the training loop derives from (epoch, step); that is what makes resume exact. The
 * plateau schedule is driven by validation results that every rank got from the same
 * all-reduce, so every rank reduces at the same epoch; its counters go into checkpoints.
 */
import { RingtrainError } from '../core';
import type { MonitorMetric, ScheduleSpec } from '../config';

/** ReduceLROnPlateau's counters, as saved in checkpoints. */
export interface PlateauState {
  best: number;
  badEpochs: number;
  cooldownLeft: number;
  /** The lr the plateau logic holds now (base lr until the first reduction). */
  lr: number;
}

export interface ScheduleState {
  plateau?: PlateauState;
}

/** torch's ReduceLROnPlateau ignores reductions smaller than this. */
const PLATEAU_EPS = 1e-8;

export function monitorMode(metric: MonitorMetric): 'min' | 'max' {
  return metric === 'accuracy' ? 'max' : 'min';
}

export class LrSchedule {
  private readonly tMax: number;
  private plateau: PlateauState;

  /**
   * @param baseLr lr after the linear scaling rule.
   * @param totalTicks ticks in the whole run (epochs, or optimizer steps), for tMax 0 (cosine, polynomial).
   */
  constructor(
    private readonly spec: ScheduleSpec,
    readonly baseLr: number,
    totalTicks: number,
    private readonly mode: 'min' | 'max' = 'min',
  ) {
    this.tMax = spec.tMax > 0 ? spec.tMax : Math.max(1, totalTicks - spec.warmup);
    this.plateau = { best: mode === 'min' ? Infinity : -Infinity, badEpochs: 0, cooldownLeft: 0, lr: baseLr };
  }

  /** The lr for tick `t` (0-based: the first epoch, or the first optimizer step). */
  lrAt(t: number): number {
    const s = this.spec;
    if (t < s.warmup) {
      // LinearLR: start_factor + (1 - start_factor) * t / total_iters.
      return this.baseLr * (s.warmupStartFactor + ((1 - s.warmupStartFactor) * t) / s.warmup);
    }
    const u = t - s.warmup;
    const base = this.baseLr;
    switch (s.name) {
      case 'constant':
        return base;
      case 'step':
        return base * s.gamma ** Math.floor(u / s.stepSize);
      case 'multistep':
        return base * s.gamma ** s.milestones.filter((m) => m <= u).length;
      case 'exponential':
        return base * s.gamma ** u;
      case 'cosine':
        // CosineAnnealingLR's closed form (periodic past tMax, as torch's).
        return s.etaMin + ((base - s.etaMin) * (1 + Math.cos((Math.PI * u) / this.tMax))) / 2;
      case 'cosine-restarts': {
        // CosineAnnealingWarmRestarts' closed form: cycle i lasts tMax x tMult^i ticks.
        const { cur, length } = restartCycle(u, this.tMax, s.tMult);
        return s.etaMin + ((base - s.etaMin) * (1 + Math.cos((Math.PI * cur) / length))) / 2;
      }
      case 'onecycle':
        return this.oneCycle(u, base / s.divFactor, base, base / s.divFactor / s.finalDivFactor);
      case 'polynomial':
        // PolynomialLR's closed form: 0 from tMax on (not periodic, unlike cosine).
        return base * (1 - Math.min(u, this.tMax) / this.tMax) ** s.power;
      case 'plateau':
        return this.plateau.lr;
    }
  }

  /**
   * The momentum (sgd, rmsprop) or Adam beta1 for tick `t` when the schedule cycles it
   * (onecycle with cycleMomentum); undefined = the optimizer's own, fixed value.
   */
  momentumAt(t: number): number | undefined {
    const s = this.spec;
    if (s.name !== 'onecycle' || !s.cycleMomentum) return undefined;
    return this.oneCycle(t - s.warmup, s.maxMomentum, s.baseMomentum, s.maxMomentum);
  }

  /**
   * OneCycleLR for a value that goes start -> peak over the first pctStart of the cycle, then
   * peak -> end; with threePhase, peak -> start over as many ticks again, then start -> end.
   * torch's phase ends are pctStart x total - 1 (then 2 x pctStart x total - 2) and total - 1,
   * and each phase starts where the one before ended. Past the cycle the value stays at `end`
   * (torch raises instead).
   */
  private oneCycle(u: number, start: number, peak: number, end: number): number {
    const s = this.spec;
    const total = this.tMax;
    const first = s.pctStart * total - 1;
    const phases: { end: number; from: number; to: number }[] = s.threePhase
      ? [
          { end: first, from: start, to: peak },
          { end: 2 * s.pctStart * total - 2, from: peak, to: start },
          { end: total - 1, from: start, to: end },
        ]
      : [
          { end: first, from: start, to: peak },
          { end: total - 1, from: peak, to: end },
        ];
    const anneal = (a: number, b: number, pct: number): number =>
      s.anneal === 'cos' ? b + ((a - b) / 2) * (Math.cos(Math.PI * pct) + 1) : (b - a) * pct + a;
    const t = Math.min(u, total - 1);
    let from = 0;
    for (let i = 0; i < phases.length; i++) {
      const p = phases[i] as { end: number; from: number; to: number };
      if (t <= p.end || i === phases.length - 1) {
        // A phase of no length (pctStart x total = 1) is all its end value (torch divides by zero there).
        return anneal(p.from, p.to, p.end > from ? (t - from) / (p.end - from) : 1);
      }
      from = p.end;
    }
    return end;
  }

  /**
   * Feeds one epoch's all-reduced validation metric to ReduceLROnPlateau (a no-op for the other
   * schedules, and during warmup, which SequentialLR would not let plateau see either). `tick`
   * is the current tick in the schedule's interval unit.
   * Returns true when the lr was reduced.
   */
  observe(metric: number, tick: number): boolean {
    if (this.spec.name !== 'plateau' || tick < this.spec.warmup) return false;
    if (!Number.isFinite(metric)) {
      throw new RingtrainError(
        'JOB_FAILED',
        `the monitored validation metric is ${metric}: training diverged; lower train.lr or set train.clipNorm`,
      );
    }
    const p = this.plateau;
    const s = this.spec;
    // threshold_mode 'rel'.
    const better = this.mode === 'min' ? metric < p.best * (1 - s.threshold) : metric > p.best * (1 + s.threshold);
    if (better) {
      p.best = metric;
      p.badEpochs = 0;
    } else {
      p.badEpochs += 1;
    }
    if (p.cooldownLeft > 0) {
      p.cooldownLeft -= 1;
      p.badEpochs = 0;
    }
    if (p.badEpochs > s.patience) {
      const next = Math.max(p.lr * s.factor, s.minLr);
      p.cooldownLeft = s.cooldown;
      p.badEpochs = 0;
      if (p.lr - next > PLATEAU_EPS) {
        p.lr = next;
        return true;
      }
    }
    return false;
  }

  state(): ScheduleState {
    return this.spec.name === 'plateau' ? { plateau: { ...this.plateau } } : {};
  }

  load(state: ScheduleState): void {
    if (state.plateau !== undefined) this.plateau = { ...state.plateau };
  }
}

/** Where tick `u` falls in CosineAnnealingWarmRestarts' cycles: ticks into its cycle, and the cycle's length. */
function restartCycle(u: number, first: number, mult: number): { cur: number; length: number } {
  if (mult === 1) return { cur: u % first, length: first };
  // Cycles before n add up to first x (mult^n - 1) / (mult - 1); counted, not by log, so a
  // boundary tick never lands in the wrong cycle by rounding.
  let start = 0;
  let length = first;
  while (u >= start + length) {
    start += length;
    length *= mult;
  }
  return { cur: u - start, length };
}

/** lr x world size when the linear scaling rule is on (Goyal et al., 2017). */
export function scaledLr(lr: number, worldSize: number, scale: boolean): number {
  return scale ? lr * worldSize : lr;
}
