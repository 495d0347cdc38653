/**
 * Optimizers over the flat parameter buffer (ParamLayout order), with torch.optim's update rules.
 *
 * Why not tf.train.*: the averaged gradient already arrives as one Float32Array from the ring,
 * and the weights live in a flat master copy, so an update is one loop over plain arrays. That
 * gives three things tfjs optimizers do not: the state is a few named Float32Arrays (a checkpoint
 * writes and restores them bit for bit), the rules are torch's exactly (tfjs Adam folds eps in
 * differently, has no AdamW, and its RMSprop/momentum variants differ in detail), and the same
 * code runs on every backend, so a test can hold it against a plain-array transcription of the
 * torch formulas. The cost is one JS loop per step over the parameters (well under a millisecond
 * for 1e5 parameters) and writing the weights back into the tfjs variables.
 *
 * Arithmetic runs in float64 and is stored in float32, as torch stores fp32 state. Where the
 * native addon is built, the same loops run vectorized in C++ (native/optim.cc), operation for
 * operation, so both paths give the same bits (a test holds them together): a JS loop over
 * 1e5 floats costs 0.3 ms here, a quarter of a small model's step.
 */
import { nativeUpdates } from '../native';
import { RingtrainError } from '../config/errors';
import type { OptimizerName, TrainSpec } from '../config/job-spec';

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
export type OptimizerOptions = Pick<TrainSpec, 'momentum' | 'nesterov' | 'weightDecay' | 'beta1' | 'beta2' | 'eps' | 'alpha'>;

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

export function optimizerOf(train: TrainSpec, size: number): FlatOptimizer {
  return createOptimizer(train.optimizer, size, train);
}

abstract class Base implements FlatOptimizer {
  abstract readonly name: OptimizerName;
  protected steps = 0;
  protected readonly slots: Record<string, Float32Array> = {};

  constructor(protected readonly size: number) {}

  abstract step(params: Float32Array, grads: Float32Array, lr: number, momentum?: number): void;

  state(): OptimizerState {
    return { name: this.name, steps: this.steps, slots: this.slots };
  }

  load(state: OptimizerState): void {
    if (state.name !== this.name) {
      throw new RingtrainError('DATA_INVALID', `optimizer state is for '${state.name}' but the job uses '${this.name}': resume with the same train.optimizer`);
    }
    for (const [key, buf] of Object.entries(this.slots)) {
      const saved = state.slots[key];
      if (saved === undefined || saved.length !== buf.length) {
        throw new RingtrainError('DATA_INVALID', `optimizer slot '${key}' has ${saved?.length ?? 'no'} values, expected ${buf.length}: was the state saved for another model?`);
      }
      buf.set(saved);
    }
    this.steps = state.steps;
  }

  protected check(params: Float32Array, grads: Float32Array): void {
    if (params.length !== this.size || grads.length < this.size) {
      throw new RingtrainError('SIZE_MISMATCH', `optimizer built for ${this.size} parameters got ${params.length} parameters and ${grads.length} gradients`);
    }
  }
}

/**
 * torch.optim.SGD (dampening 0): g += wd*p; buf = m*buf + g (buf starts at g, which zeros give
 * too); g = nesterov ? g + m*buf : buf; p -= lr*g.
 */
class Sgd extends Base {
  readonly name = 'sgd';
  constructor(size: number, private readonly o: OptimizerOptions) {
    super(size);
    if (o.nesterov && o.momentum <= 0) {
      throw new RingtrainError('CONFIG_INVALID', `train.nesterov needs train.momentum > 0 (torch refuses it too), got momentum ${o.momentum}`);
    }
    if (o.momentum > 0) this.slots.momentum = new Float32Array(size);
  }

  step(p: Float32Array, g: Float32Array, lr: number, momentum?: number): void {
    this.check(p, g);
    const { nesterov, weightDecay: wd } = this.o;
    const m = momentum ?? this.o.momentum;
    const buf = this.slots.momentum;
    const n = this.size;
    this.steps += 1;
    const native = nativeUpdates();
    if (native !== undefined) {
      native.sgd(p, g.subarray(0, n), buf ?? null, m, wd, lr, nesterov ? 1 : 0);
      return;
    }
    // One loop per variant: a branch inside the hot loop costs about half again as much.
    if (buf === undefined) {
      for (let i = 0; i < n; i++) p[i] = (p[i] as number) - lr * ((g[i] as number) + wd * (p[i] as number));
    } else if (!nesterov) {
      for (let i = 0; i < n; i++) {
        buf[i] = m * (buf[i] as number) + ((g[i] as number) + wd * (p[i] as number));
        p[i] = (p[i] as number) - lr * (buf[i] as number);
      }
    } else {
      for (let i = 0; i < n; i++) {
        const d = (g[i] as number) + wd * (p[i] as number);
        buf[i] = m * (buf[i] as number) + d;
        p[i] = (p[i] as number) - lr * (d + m * (buf[i] as number));
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
  constructor(size: number, private readonly o: OptimizerOptions, private readonly decoupled: boolean) {
    super(size);
    this.name = decoupled ? 'adamw' : 'adam';
    this.slots.exp_avg = new Float32Array(size);
    this.slots.exp_avg_sq = new Float32Array(size);
  }

  step(p: Float32Array, g: Float32Array, lr: number, momentum?: number): void {
    this.check(p, g);
    const { beta2: b2, eps, weightDecay: wd } = this.o;
    // torch's bias correction uses the step's own beta1 too: 1 - beta1^t with today's beta1.
    const b1 = momentum ?? this.o.beta1;
    const m = this.slots.exp_avg as Float32Array;
    const v = this.slots.exp_avg_sq as Float32Array;
    this.steps += 1;
    const t = this.steps;
    const stepSize = lr / (1 - b1 ** t);
    const bc2Sqrt = Math.sqrt(1 - b2 ** t);
    const decay = this.decoupled ? 1 - lr * wd : 1;
    const l2 = this.decoupled ? 0 : wd;
    const native = nativeUpdates();
    if (native !== undefined) {
      native.adam(p, g.subarray(0, this.size), m, v, b1, b2, stepSize, bc2Sqrt, eps, decay, l2);
      return;
    }
    for (let i = 0; i < this.size; i++) {
      const w = (p[i] as number) * decay;
      const d = (g[i] as number) + l2 * w;
      m[i] = b1 * (m[i] as number) + (1 - b1) * d;
      v[i] = b2 * (v[i] as number) + (1 - b2) * d * d;
      p[i] = w - (stepSize * (m[i] as number)) / (Math.sqrt(v[i] as number) / bc2Sqrt + eps);
    }
  }
}

/**
 * torch.optim.RMSprop (centered off): g += wd*p; sq = a*sq + (1-a)*g^2; avg = sqrt(sq) + eps;
 * with momentum buf = m*buf + g/avg, p -= lr*buf; else p -= lr*g/avg.
 */
class RmsProp extends Base {
  readonly name = 'rmsprop';
  constructor(size: number, private readonly o: OptimizerOptions) {
    super(size);
    this.slots.square_avg = new Float32Array(size);
    if (o.momentum > 0) this.slots.momentum_buffer = new Float32Array(size);
  }

  step(p: Float32Array, g: Float32Array, lr: number, momentum?: number): void {
    this.check(p, g);
    const { alpha: a, eps, weightDecay: wd } = this.o;
    const m = momentum ?? this.o.momentum;
    const sq = this.slots.square_avg as Float32Array;
    const buf = this.slots.momentum_buffer;
    this.steps += 1;
    const native = nativeUpdates();
    if (native !== undefined) {
      native.rmsprop(p, g.subarray(0, this.size), sq, buf ?? null, a, eps, m, wd, lr);
      return;
    }
    for (let i = 0; i < this.size; i++) {
      const d = (g[i] as number) + wd * (p[i] as number);
      sq[i] = a * (sq[i] as number) + (1 - a) * d * d;
      const avg = Math.sqrt(sq[i] as number) + eps;
      if (buf !== undefined) {
        buf[i] = m * (buf[i] as number) + d / avg;
        p[i] = (p[i] as number) - lr * (buf[i] as number);
      } else {
        p[i] = (p[i] as number) - (lr * d) / avg;
      }
    }
  }
}
