/**
 * Optimizers over the flat parameter buffer (ParamLayout order), with torch.optim's update rules.
 *
 * Why not tf.train.*: the averaged gradient already arrives as one Float32Array from the ring,
 * and the weights live in a flat master copy, so an update is one loop over plain arrays. That
 * gives three things tfjs optimizers do not: the state is a few named Float32Arrays (a checkpoint
 * writes and restores them bit for bit), the rules are torch's exactly (tfjs Adam folds eps in
 * differently, has no AdamW, and its RMSprop/momentum variants differ in detail), and the same
 * code runs on every backend, so a test can hold it against a plain-array transcription of the
 * torch formulas. The cost is one loop per step over the parameters and writing the weights
 * back into the tfjs variables.
 *
 * Arithmetic runs in float64 and is stored in float32, as torch stores fp32 state. Where the
 * native addon is built, the same loops run vectorized in C++ (native/optim.cc), operation for
 * operation, so both paths give the same bits (a test holds them together); for a small model
 * the JS loop is a large share of the step.
 */
import { nativeUpdates } from '../native';
import { RingtrainError } from '../core';
import type { OptimizerName, TrainSpec } from '../config';

/** Everything an optimizer needs to continue exactly where it stopped. */
export interface OptimizerState {
  name: OptimizerName;
  /** Optimizer steps taken (Adam's bias correction needs it). */
  steps: number;
  /** Per-parameter buffers, each as long as the parameters. */
  slots: Record<string, Float32Array>;
}

export interface FlatOptimizer {
  readonly name: OptimizerName;
  /**
   * Updates `params` in place with the (already averaged, clipped) gradient at learning rate
   * `lr`; `momentum`, when a schedule cycles it (onecycle), replaces train.momentum (sgd,
   * rmsprop) or train.beta1 (adam, adamw) for this step, as torch's schedulers set them.
   */
  step(params: Float32Array, grads: Float32Array, lr: number, momentum?: number): void;
  /** Live views of the state (a checkpoint copies them). */
  state(): OptimizerState;
  /** Restores a state taken from an optimizer of the same kind and size. */
  load(state: OptimizerState): void;
}

/** The job's optimizer knobs (documented in TrainSpec). */
export type OptimizerOptions = Pick<
  TrainSpec,
  'momentum' | 'nesterov' | 'weightDecay' | 'beta1' | 'beta2' | 'eps' | 'alpha'
> & {
  /**
   * [start, end) ranges of the flat parameters that get no weight decay (biases and norm
   * parameters when train.decayBiasAndNorm is off), as a torch param group with weight_decay 0.
   */
  noDecay?: readonly (readonly [number, number])[];
};

/** The optimizer a job asks for, with zeroed state for `size` parameters. */
export function createOptimizer(name: OptimizerName, size: number, o: OptimizerOptions): FlatOptimizer {
  switch (name) {
    case 'sgd':
      return new Sgd(size, o);
    case 'adam':
      return new Adam(size, o, false);
    case 'adamw':
      return new Adam(size, o, true);
    case 'rmsprop':
      return new RmsProp(size, o);
  }
}

/**
 * The flat parameters' [start, end) ranges without weight decay when train.decayBiasAndNorm is
 * off: every parameter of one dimension or none (biases, batch-norm scales and shifts), timm's
 * filter_bias_and_bn rule. Empty when it is on (torch's default: decay everything).
 */
export function noDecayRanges(
  train: Pick<TrainSpec, 'decayBiasAndNorm'>,
  slots: readonly { offset: number; size: number; shape: readonly number[] }[],
): [number, number][] {
  if (train.decayBiasAndNorm) return [];
  return slots.filter((s) => s.shape.length <= 1).map((s) => [s.offset, s.offset + s.size]);
}

export function optimizerOf(
  train: TrainSpec,
  size: number,
  noDecay: readonly (readonly [number, number])[] = [],
): FlatOptimizer {
  return createOptimizer(train.optimizer, size, { ...train, noDecay });
}

/** A stretch of the flat parameters updated with one weight decay. */
interface Segment {
  start: number;
  end: number;
  wd: number;
}

/** [0, size) cut where weight decay changes; one segment when nothing is exempt. */
function segmentsOf(size: number, wd: number, noDecay: readonly (readonly [number, number])[]): Segment[] {
  const exempt = new Uint8Array(size);
  for (const [a, b] of noDecay) exempt.fill(1, Math.max(0, a), Math.min(size, b));
  const out: Segment[] = [];
  for (let i = 0; i < size;) {
    let j = i + 1;
    while (j < size && exempt[j] === exempt[i]) j++;
    out.push({ start: i, end: j, wd: exempt[i] === 1 ? 0 : wd });
    i = j;
  }
  return out;
}

/** `a` restricted to a segment (the array itself when the segment is all of it). */
function part(a: Float32Array, s: Segment): Float32Array {
  return s.start === 0 && s.end === a.length ? a : a.subarray(s.start, s.end);
}

abstract class Base implements FlatOptimizer {
  abstract readonly name: OptimizerName;
  protected steps = 0;
  protected readonly slots: Record<string, Float32Array> = {};
  /** Where weight decay applies and where it does not (one segment when it applies to all). */
  protected readonly segments: readonly Segment[];

  constructor(
    protected readonly size: number,
    o: OptimizerOptions,
  ) {
    this.segments = segmentsOf(size, o.weightDecay, o.noDecay ?? []);
  }

  abstract step(params: Float32Array, grads: Float32Array, lr: number, momentum?: number): void;

  state(): OptimizerState {
    return { name: this.name, steps: this.steps, slots: this.slots };
  }

  load(state: OptimizerState): void {
    if (state.name !== this.name) {
      throw new RingtrainError(
        'DATA_INVALID',
        `optimizer state is for '${state.name}' but the job uses '${this.name}': resume with the same train.optimizer`,
      );
    }
    for (const [key, buf] of Object.entries(this.slots)) {
      const saved = state.slots[key];
      if (saved === undefined || saved.length !== buf.length) {
        throw new RingtrainError(
          'DATA_INVALID',
          `optimizer slot '${key}' has ${saved?.length ?? 'no'} values, expected ${buf.length}: was the state saved for another model?`,
        );
      }
      buf.set(saved);
    }
    this.steps = state.steps;
  }

  protected check(params: Float32Array, grads: Float32Array): void {
    if (params.length !== this.size || grads.length < this.size) {
      throw new RingtrainError(
        'SIZE_MISMATCH',
        `optimizer built for ${this.size} parameters got ${params.length} parameters and ${grads.length} gradients`,
      );
    }
  }
}

/**
 * torch.optim.SGD (dampening 0): g += wd*p; buf = m*buf + g (buf starts at g, which zeros give
 * too); g = nesterov ? g + m*buf : buf; p -= lr*g.
 */
class Sgd extends Base {
  readonly name = 'sgd';
  constructor(
    size: number,
    private readonly o: OptimizerOptions,
  ) {
    super(size, o);
    if (o.nesterov && o.momentum <= 0) {
      throw new RingtrainError(
        'CONFIG_INVALID',
        `train.nesterov needs train.momentum > 0 (torch refuses it too), got momentum ${o.momentum}`,
      );
    }
    if (o.momentum > 0) this.slots.momentum = new Float32Array(size);
  }

  step(p: Float32Array, g: Float32Array, lr: number, momentum?: number): void {
    this.check(p, g);
    const m = momentum ?? this.o.momentum;
    const buf = this.slots.momentum;
    this.steps += 1;
    for (const s of this.segments)
      this.update(part(p, s), g.subarray(s.start, s.end), buf === undefined ? undefined : part(buf, s), m, s.wd, lr);
  }

  /**
   * In float32, each operation rounded (Math.fround) as torch's float32 kernels and the native
   * loop round, the hyperparameters too: the native and JS paths give the same bits.
   */
  private update(
    p: Float32Array,
    g: Float32Array,
    buf: Float32Array | undefined,
    momentum: number,
    weightDecay: number,
    learningRate: number,
  ): void {
    const nesterov = this.o.nesterov;
    const n = p.length;
    const native = nativeUpdates();
    if (native !== undefined) {
      native.sgd(p, g, buf ?? null, momentum, weightDecay, learningRate, nesterov ? 1 : 0);
      return;
    }
    const f = Math.fround;
    const [m, wd, lr] = [f(momentum), f(weightDecay), f(learningRate)];
    // One loop per variant: a branch inside the hot loop costs about half again as much.
    if (buf === undefined) {
      for (let i = 0; i < n; i++) p[i] = f((p[i] as number) - f(lr * f((g[i] as number) + f(wd * (p[i] as number)))));
    } else if (!nesterov) {
      for (let i = 0; i < n; i++) {
        buf[i] = f(m * (buf[i] as number)) + f((g[i] as number) + f(wd * (p[i] as number)));
        p[i] = (p[i] as number) - f(lr * (buf[i] as number));
      }
    } else {
      for (let i = 0; i < n; i++) {
        const d = f((g[i] as number) + f(wd * (p[i] as number)));
        buf[i] = f(m * (buf[i] as number)) + d;
        p[i] = (p[i] as number) - f(lr * f(d + f(m * (buf[i] as number))));
      }
    }
  }
}

/**
 * torch.optim.Adam / AdamW (amsgrad off): Adam adds wd*p to the gradient, AdamW multiplies p by
 * (1 - lr*wd) first. m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
 * p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
 */
class Adam extends Base {
  readonly name: 'adam' | 'adamw';
  constructor(
    size: number,
    private readonly o: OptimizerOptions,
    private readonly decoupled: boolean,
  ) {
    super(size, o);
    this.name = decoupled ? 'adamw' : 'adam';
    this.slots.exp_avg = new Float32Array(size);
    this.slots.exp_avg_sq = new Float32Array(size);
  }

  step(p: Float32Array, g: Float32Array, lr: number, momentum?: number): void {
    this.check(p, g);
    const { beta2: b2, eps } = this.o;
    // torch's bias correction uses the step's own beta1 too: 1 - beta1^t with today's beta1.
    const b1 = momentum ?? this.o.beta1;
    const m = this.slots.exp_avg as Float32Array;
    const v = this.slots.exp_avg_sq as Float32Array;
    this.steps += 1;
    const t = this.steps;
    const stepSize = lr / (1 - b1 ** t);
    const bc2Sqrt = Math.sqrt(1 - b2 ** t);
    const native = nativeUpdates();
    for (const s of this.segments) {
      const decay = this.decoupled ? 1 - lr * s.wd : 1;
      const l2 = this.decoupled ? 0 : s.wd;
      const [ps, gs, ms, vs] = [part(p, s), g.subarray(s.start, s.end), part(m, s), part(v, s)];
      if (native !== undefined) {
        native.adam(ps, gs, ms, vs, b1, b2, stepSize, bc2Sqrt, eps, decay, l2);
        continue;
      }
      for (let i = 0; i < ps.length; i++) {
        const w = (ps[i] as number) * decay;
        const d = (gs[i] as number) + l2 * w;
        ms[i] = b1 * (ms[i] as number) + (1 - b1) * d;
        vs[i] = b2 * (vs[i] as number) + (1 - b2) * d * d;
        ps[i] = w - (stepSize * (ms[i] as number)) / (Math.sqrt(vs[i] as number) / bc2Sqrt + eps);
      }
    }
  }
}

/**
 * torch.optim.RMSprop (centered off): g += wd*p; sq = a*sq + (1-a)*g^2; avg = sqrt(sq) + eps;
 * with momentum buf = m*buf + g/avg, p -= lr*buf; else p -= lr*g/avg.
 */
class RmsProp extends Base {
  readonly name = 'rmsprop';
  constructor(
    size: number,
    private readonly o: OptimizerOptions,
  ) {
    super(size, o);
    this.slots.square_avg = new Float32Array(size);
    if (o.momentum > 0) this.slots.momentum_buffer = new Float32Array(size);
  }

  step(p: Float32Array, g: Float32Array, lr: number, momentum?: number): void {
    this.check(p, g);
    const { alpha: a, eps } = this.o;
    const m = momentum ?? this.o.momentum;
    const sq = this.slots.square_avg as Float32Array;
    const buf = this.slots.momentum_buffer;
    this.steps += 1;
    const native = nativeUpdates();
    for (const s of this.segments) {
      const wd = s.wd;
      const [ps, gs, sqs] = [part(p, s), g.subarray(s.start, s.end), part(sq, s)];
      const bufs = buf === undefined ? undefined : part(buf, s);
      if (native !== undefined) {
        native.rmsprop(ps, gs, sqs, bufs ?? null, a, eps, m, wd, lr);
        continue;
      }
      for (let i = 0; i < ps.length; i++) {
        const d = (gs[i] as number) + wd * (ps[i] as number);
        sqs[i] = a * (sqs[i] as number) + (1 - a) * d * d;
        const avg = Math.sqrt(sqs[i] as number) + eps;
        if (bufs !== undefined) {
          bufs[i] = m * (bufs[i] as number) + d / avg;
          ps[i] = (ps[i] as number) - lr * (bufs[i] as number);
        } else {
          ps[i] = (ps[i] as number) - (lr * d) / avg;
        }
      }
    }
  }
}
