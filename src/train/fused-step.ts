/**
 * The fused training step: for a model that is a plain chain of dense, 'valid' stride-1
 * convolution and max-pool layers (flatten and reshape in between) ending in dense logits, the
 * addon's fusedStep (native/fused-step.cc) computes forward, softmax cross-entropy and backward
 * in one call, reading the flat weights and writing the flat gradients the all-reduce sends.
 * tfjs's engine pays microseconds of bookkeeping per op and computes the input batch's gradient,
 * which nobody reads; a dense step is a few dozen ops. Anything else (dropout, batch norm,
 * residual adds, regression, frozen layers) keeps the tfjs step (forwardBackward), which stays
 * the reference the tests hold this path to.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { nativeFusedStep, type NativeFusedStep } from '../native';
import type { ParamLayout } from './flat-params';
import { meanLabelWeight } from './loss';
import type { LocalStepResult, LossOptions } from './train-step';

const KIND = { dense: 0, conv: 1, pool: 2 } as const;
const ACTIVATIONS: Record<string, number> = { linear: 0, relu: 1, tanh: 2, sigmoid: 3 };
/** The addon's leaky ReLU: its slope is fixed at torch's default (native/fused-step.cc). */
const LEAKY = { act: 4, alpha: 0.01 } as const;
/** Int32 fields per op in a plan (native/addon-step.cc). */
const FIELDS = 11;

/** The current per-sample shape while walking the layers: [h, w, c] or a flat [n]. */
type Shape = number[];

interface LayerConfig {
  units?: number;
  filters?: number;
  activation?: string;
  useBias?: boolean;
  kernelSize?: number | number[];
  strides?: number | number[];
  poolSize?: number | number[];
  padding?: string;
  dataFormat?: string;
  dilationRate?: number | number[];
  rate?: number;
  targetShape?: number[];
  alpha?: number;
  maxValue?: number | null;
  threshold?: number;
  negativeSlope?: number;
}

/** Why a layer cannot be fused, or undefined when it can be. */
type Verdict = string | undefined;

const pair = (v: number | number[] | undefined, fallback: number): [number, number] =>
  Array.isArray(v) ? [v[0] ?? fallback, v[1] ?? v[0] ?? fallback] : [v ?? fallback, v ?? fallback];

class PlanBuilder {
  readonly ops: number[] = [];
  /** The layer behind each op, for profiles. */
  readonly names: string[] = [];
  constructor(
    private shape: Shape,
    private readonly offsets: Map<string, number>,
  ) {}

  add(layer: tfl.layers.Layer): Verdict {
    const cfg = layer.getConfig() as LayerConfig;
    const name = `${layer.name} (${layer.getClassName()})`;
    if (!layer.trainable && layer.trainableWeights.length === 0 && layer.weights.length > 0) return `${name} is frozen`;
    switch (layer.getClassName()) {
      case 'InputLayer':
        return undefined;
      case 'Flatten':
        this.shape = [this.shape.reduce((a, b) => a * b, 1)];
        return undefined;
      case 'Reshape':
        this.shape = (cfg.targetShape ?? []).slice();
        return this.shape.length === 1 || this.shape.length === 3
          ? undefined
          : `${name} reshapes to rank ${this.shape.length}`;
      case 'Dropout':
        return (cfg.rate ?? 0) === 0 ? undefined : `${name} drops units`;
      case 'Dense':
        return this.dense(layer, cfg, name);
      case 'Conv2D':
        return this.conv(layer, cfg, name);
      case 'MaxPooling2D':
        return this.pool(cfg, name);
      case 'ReLU':
        return (cfg.maxValue ?? null) === null && (cfg.threshold ?? 0) === 0 && (cfg.negativeSlope ?? 0) === 0
          ? this.fold(ACTIVATIONS.relu as number, name)
          : `${name} is clipped or shifted`;
      case 'LeakyReLU':
        return Math.fround(cfg.alpha ?? 0.3) === Math.fround(LEAKY.alpha)
          ? this.fold(LEAKY.act, name)
          : `${name}'s slope ${cfg.alpha} is not ${LEAKY.alpha}`;
      default:
        return `${name} has no fused kernel`;
    }
  }

  /** An activation layer becomes the activation of the dense or conv op right before it. */
  private fold(act: number, name: string): Verdict {
    const at = this.ops.length - FIELDS;
    if (at < 0 || this.ops[at] === KIND.pool || this.ops[at + 1] !== ACTIVATIONS.linear)
      return `${name} does not follow a dense or conv layer without activation`;
    this.ops[at + 1] = act;
    return undefined;
  }

  private weights(layer: tfl.layers.Layer, name: string, bias: boolean): [number, number] | string {
    if (layer.weights.length !== layer.trainableWeights.length) return `${name} has frozen weights`;
    const [kernel, b] = layer.trainableWeights.map((w) =>
      this.offsets.get((w as unknown as { val: { name: string } }).val.name),
    );
    if (kernel === undefined || (bias && b === undefined)) return `${name}'s weights are not in the layout`;
    return [kernel, bias ? (b as number) : -1];
  }

  private dense(layer: tfl.layers.Layer, cfg: LayerConfig, name: string): Verdict {
    const act = ACTIVATIONS[cfg.activation ?? 'linear'];
    if (act === undefined) return `${name}'s activation ${cfg.activation} has no fused kernel`;
    if (this.shape.length !== 1) return `${name} takes a rank-${this.shape.length} input`;
    const w = this.weights(layer, name, cfg.useBias !== false);
    if (typeof w === 'string') return w;
    const units = cfg.units ?? 0;
    this.ops.push(KIND.dense, act, 1, 1, this.shape[0] as number, units, 0, 0, 0, w[0], w[1]);
    this.names.push(name);
    this.shape = [units];
    return undefined;
  }

  private conv(layer: tfl.layers.Layer, cfg: LayerConfig, name: string): Verdict {
    const act = ACTIVATIONS[cfg.activation ?? 'linear'];
    const [sy, sx] = pair(cfg.strides, 1);
    const [dy, dx] = pair(cfg.dilationRate, 1);
    if (act === undefined) return `${name}'s activation ${cfg.activation} has no fused kernel`;
    if (
      this.shape.length !== 3 ||
      cfg.padding !== 'valid' ||
      sy !== 1 ||
      sx !== 1 ||
      dy !== 1 ||
      dx !== 1 ||
      cfg.dataFormat === 'channelsFirst'
    ) {
      return `${name} is not a channels-last 'valid' convolution of stride 1`;
    }
    const w = this.weights(layer, name, cfg.useBias !== false);
    if (typeof w === 'string') return w;
    const [h, wd, c] = this.shape as [number, number, number];
    const [kh, kw] = pair(cfg.kernelSize, 1);
    const filters = cfg.filters ?? 0;
    this.ops.push(KIND.conv, act, h, wd, c, filters, kh, kw, 0, w[0], w[1]);
    this.names.push(name);
    this.shape = [h - kh + 1, wd - kw + 1, filters];
    return undefined;
  }

  private pool(cfg: LayerConfig, name: string): Verdict {
    const [py, px] = pair(cfg.poolSize, 2);
    const [sy, sx] = pair(cfg.strides ?? cfg.poolSize, 2);
    if (this.shape.length !== 3 || py !== px || sy !== py || sx !== px || cfg.padding !== 'valid')
      return `${name} is not a square 'valid' pool with its own size as stride`;
    const [h, w, c] = this.shape as [number, number, number];
    this.ops.push(KIND.pool, 0, h, w, c, 0, 0, 0, py, 0, -1);
    this.names.push(name);
    this.shape = [Math.floor(h / py), Math.floor(w / py), c];
    return undefined;
  }
}

/** The layers of a single chain, input first; undefined when some layer has another shape of graph. */
function chainOf(model: tfl.LayersModel): tfl.layers.Layer[] | undefined {
  const layers = model.layers;
  for (let i = 1; i < layers.length; i++) {
    const nodes = (layers[i] as unknown as { inboundNodes: { inboundLayers: tfl.layers.Layer[] }[] }).inboundNodes;
    if (nodes.length !== 1 || nodes[0]?.inboundLayers.length !== 1 || nodes[0].inboundLayers[0] !== layers[i - 1])
      return undefined;
  }
  return layers;
}

/** A fused plan for `model`, or why there is none. */
export function fusedPlanOf(
  model: tfl.LayersModel,
  layout: ParamLayout,
): { plan?: Int32Array; layers?: string[]; why?: string } {
  if (model.nonTrainableWeights.length > 0)
    return { why: 'the model has non-trainable weights (batch norm statistics or frozen layers)' };
  const chain = chainOf(model);
  if (chain === undefined) return { why: 'the model is not a single chain of layers' };
  const input = model.inputs[0]?.shape.slice(1) as number[] | undefined;
  if (input === undefined || model.inputs.length !== 1 || model.outputs.length !== 1)
    return { why: 'the model has more than one input or output' };
  const builder = new PlanBuilder(input, new Map(layout.slots.map((s) => [s.name, s.offset])));
  for (const layer of chain) {
    const why = builder.add(layer);
    if (why !== undefined) return { why };
  }
  const ops = builder.ops;
  const last = ops.length - FIELDS;
  if (ops.length === 0 || ops[last] !== KIND.dense || ops[last + 1] !== ACTIVATIONS.linear)
    return { why: 'the model does not end in a dense layer of logits' };
  return { plan: Int32Array.from(ops), layers: builder.names };
}

/** A stretch of the backward pass: it runs down to op `downTo`; then gradients from `start` on are final. */
export interface BackwardSegment {
  downTo: number;
  start: number;
}

/** Native workspaces a paused backward pass may hold (native/addon-step.cc); slot 0 is run()'s. */
const SLOTS = 64;
let lastSlot = 0;

/** Runs a model's fused plan; one per training loop, its output scratch reused. */
export class FusedStep {
  private readonly out = new Float64Array(2);
  /** This step's native workspace for paused passes, taken at its first begin(). */
  private slot = 0;

  constructor(
    private readonly native: NativeFusedStep,
    readonly plan: Int32Array,
    /** The layer behind each op of the plan, as 'name (Class)'. */
    readonly layers: string[],
  ) {}

  /** The fused step for this model and loss, or why the tfjs step runs instead. */
  static of(model: tfl.LayersModel, layout: ParamLayout, loss: LossOptions): { step?: FusedStep; why?: string } {
    const native = nativeFusedStep();
    if (native === undefined) return { why: 'the native addon with the fused step is not built or is turned off' };
    if (loss.targets !== undefined) return { why: 'regression (mean squared error) has no fused loss' };
    const { plan, layers, why } = fusedPlanOf(model, layout);
    return plan === undefined || layers === undefined ? { why } : { step: new FusedStep(native, plan, layers) };
  }

  /**
   * Forward and backward of `rows` samples from the flat `params`; the gradient lands in
   * `grads` (added with `accumulate`). Returns what forwardBackward returns, its loss included.
   * With `profile` (2 x layers + 1 slots) each layer's forward and backward seconds and the
   * loss's are added to it (native/fused-step.h).
   */
  run(
    params: Float32Array,
    grads: Float32Array,
    x: Float32Array,
    y: Int32Array,
    rows: number,
    accumulate: boolean,
    loss: LossOptions,
    profile?: Float64Array,
  ): LocalStepResult {
    const weights = loss.classWeights ?? null;
    this.native.fusedStep(
      this.plan,
      params,
      grads,
      x,
      y,
      rows,
      accumulate,
      loss.labelSmoothing ?? 0,
      weights,
      this.out,
      profile ?? null,
    );
    return this.result(y, rows, weights);
  }

  /**
   * Where the backward pass may pause so finished gradients go on the wire while it computes
   * the earlier layers (DDP's reducer, last layers first): segments in backward order, each
   * with the op it runs down to and the flat offset from which every gradient is final once it
   * has. Each but the last holds at least `minElements` parameters. One segment (no pause) when
   * the layout does not follow the ops' order.
   */
  segments(minElements: number): BackwardSegment[] {
    const ops = this.plan.length / FIELDS;
    const starts: number[] = [];
    for (let i = 0; i < ops; i++)
      starts.push(this.plan[i * FIELDS] === KIND.pool ? -1 : (this.plan[i * FIELDS + 9] as number));
    const weighted = starts.filter((v) => v >= 0);
    if (weighted.some((v, i) => i > 0 && v <= (weighted[i - 1] as number))) return [{ downTo: 0, start: 0 }];
    const out: BackwardSegment[] = [];
    // The current segment ends where the previous one starts (at first: the last parameter).
    let last = ops - 1;
    while (last > 0 && (starts[last] as number) < 0) last--;
    let end = this.paramEnd(last);
    for (let i = ops - 1; i > 0; i--) {
      const start = starts[i] as number;
      if (start < 0 || end - start < minElements) continue;
      out.push({ downTo: i, start });
      end = start;
    }
    out.push({ downTo: 0, start: 0 });
    return out;
  }

  /** Like run, with the backward pass stopped after op `stopAt` (see segments); continueTo does the rest. */
  begin(
    params: Float32Array,
    grads: Float32Array,
    x: Float32Array,
    y: Int32Array,
    rows: number,
    accumulate: boolean,
    loss: LossOptions,
    stopAt: number,
  ): LocalStepResult {
    const weights = loss.classWeights ?? null;
    // Its own workspace: two ranks of one process (tests) pause their passes at the same time.
    if (this.slot === 0) this.slot = lastSlot = (lastSlot % (SLOTS - 1)) + 1;
    this.native.fusedStep(
      this.plan,
      params,
      grads,
      x,
      y,
      rows,
      accumulate,
      loss.labelSmoothing ?? 0,
      weights,
      this.out,
      null,
      stopAt,
      this.slot,
    );
    return this.result(y, rows, weights);
  }

  /** Continues the backward pass begin stopped, down to op `downTo`; the same arguments as begin. */
  continueTo(
    params: Float32Array,
    grads: Float32Array,
    x: Float32Array,
    rows: number,
    accumulate: boolean,
    downTo: number,
  ): void {
    this.native.fusedBackward(this.plan, params, grads, x, rows, accumulate, downTo, this.slot);
  }

  /** One past the last parameter of op i (its bias, else its kernel). */
  private paramEnd(i: number): number {
    const f = this.plan.subarray(i * FIELDS, (i + 1) * FIELDS);
    const [kind, , , , cin, cout, kh, kw] = f as unknown as number[];
    const kernel = (kind === KIND.conv ? (kh as number) * (kw as number) : 1) * (cin as number) * (cout as number);
    return (f[10] as number) >= 0 ? (f[10] as number) + (cout as number) : (f[9] as number) + kernel;
  }

  private result(y: Int32Array, rows: number, weights: Float32Array | null): LocalStepResult {
    const objective = this.out[0] as number;
    const weightMean = weights === null ? 1 : meanLabelWeight(y, rows, weights);
    const result = weightMean === 1 ? objective : weightMean > 0 ? objective / weightMean : 0;
    return { loss: result, correct: this.out[1] as number, weightMean };
  }
}
