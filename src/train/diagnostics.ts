/**
 * Training diagnostics as pure functions over flat Float32Arrays and the parameter layout: the
 * numbers the tutorials teach people to watch (global and per-layer gradient norms, the
 * update-to-weight ratio, weight and gradient histograms) and the three warnings they teach to
 * look for: vanishing gradients, exploding gradients, over-fitting. No tfjs and no I/O here, so
 * the worker, the report and the tests all share one definition.
 *
 * Thresholds are heuristics with a named trade-off each (see the constants); they aim to be
 * quiet on a healthy run and loud on a broken one, not to be exact.
 */
import { nativeUpdates } from '../native';

/** Where one variable lives in the flat buffers (ParamLayout's slots fit this shape). */
export interface VariableSlot {
  name: string;
  offset: number;
  size: number;
}

export interface LayerStats {
  layer: string;
  /** L2 norm of the layer's gradient (all its variables together). */
  gradNorm: number;
  /** L2 norm of the layer's weights after the step. */
  weightNorm: number;
  /** L2 norm of the step's change to the weights. */
  updateNorm: number;
  /** updateNorm / weightNorm; ~1e-3 is the classic healthy value (cs231n). */
  updateRatio: number;
}

export interface Histogram {
  min: number;
  max: number;
  count: number;
  sum: number;
  sumSquares: number;
  /** bins + 1 edges; bin i holds values in [edges[i], edges[i+1]), the last bin is closed. */
  edges: number[];
  counts: number[];
  /** Values that were NaN or infinite (left out of the bins). */
  nonFinite: number;
}

export type WarningKind =
  'vanishing-gradient' | 'exploding-gradient' | 'non-finite-gradient' | 'skipped-steps' | 'overfitting';

export interface DiagnosticWarning {
  kind: WarningKind;
  message: string;
  layer?: string;
}

/** Default bins per histogram: enough to show shape, small enough for a JSONL line per epoch. */
export const HISTOGRAM_BINS = 30;
/**
 * A layer whose gradient norm is below this fraction of the largest layer's is "vanishing": in a
 * healthy MLP or CNN layer norms stay within one or two orders of magnitude of each other, while
 * a deep sigmoid stack shrinks them by ~4x per layer.
 */
export const VANISHING_RELATIVE = 1e-3;
/** A global gradient norm below this is vanishing whatever the layers say (float32 noise level). */
export const VANISHING_ABSOLUTE = 1e-8;
/** A global gradient norm above this is exploding (the usual clipping thresholds are 1-10). */
export const EXPLODING_ABSOLUTE = 1e3;
/** ... and so is one that grew this many times over its first recorded value. */
export const EXPLODING_GROWTH = 100;
/** Epochs in a row of val loss rising while train loss falls before over-fitting is called. */
export const OVERFITTING_PATIENCE = 2;

/** "dense_0/kernel" -> "dense_0": variables group into layers by their name's scope. */
export function layerOf(variable: string): string {
  const cut = variable.lastIndexOf('/');
  return cut > 0 ? variable.slice(0, cut) : variable;
}

/** Sum of squares of buf[from, to), accumulated in double precision. */
/** Interleaved float64 accumulators, as grad-norm.ts sums (and the addon, so both paths agree). */
const LANES = 16;

/**
 * Sum of (a[i] - b[i])^2 over [from, to) (of a[i]^2 without b), in float64 over sixteen
 * interleaved lanes added pairwise, neighbours first. The addon runs the same loop
 * (diagnostics.cc): these passes run once per epoch on rank 0, too rarely for V8 to optimize
 * them, so as JS they cost milliseconds of a step its peer waits through.
 */
export function sumSquares(a: Float32Array, from = 0, to = a.length, b?: Float32Array): number {
  const x = a.subarray(from, to);
  const y = b?.subarray(from, to);
  const native = nativeUpdates()?.sumSquaredDiff;
  if (native !== undefined) return native(x, y ?? null);
  const lanes = new Float64Array(LANES);
  const at = (k: number): number => (y === undefined ? (x[k] as number) : (x[k] as number) - (y[k] as number));
  let i = 0;
  for (; i + LANES <= x.length; i += LANES) {
    for (let j = 0; j < LANES; j++) lanes[j] = (lanes[j] as number) + at(i + j) * at(i + j);
  }
  for (let j = 0; i < x.length; i++, j++) lanes[j] = (lanes[j] as number) + at(i) * at(i);
  for (let width = LANES; width > 1; width /= 2) {
    for (let j = 0; j < width / 2; j++) lanes[j] = (lanes[2 * j] as number) + (lanes[2 * j + 1] as number);
  }
  return lanes[0] as number;
}

export function l2Norm(buf: Float32Array, from = 0, to = buf.length): number {
  return Math.sqrt(sumSquares(buf, from, to));
}

/** Layers in first-appearance order with their variables. */
export function groupByLayer<S extends VariableSlot>(slots: readonly S[]): { layer: string; slots: S[] }[] {
  const out: { layer: string; slots: S[] }[] = [];
  for (const s of slots) {
    const layer = layerOf(s.name);
    const group = out.find((g) => g.layer === layer);
    if (group) group.slots.push(s);
    else out.push({ layer, slots: [s] });
  }
  return out;
}

/**
 * Per-layer statistics of one optimizer step.
 * @param grads the (averaged) gradient the step applied
 * @param before the weights before the step; @param after the weights after it
 */
export function layerStats(
  slots: readonly VariableSlot[],
  grads: Float32Array,
  before: Float32Array,
  after: Float32Array,
): LayerStats[] {
  return groupByLayer(slots).map(({ layer, slots: vars }) => {
    let g = 0;
    let w = 0;
    let u = 0;
    for (const s of vars) {
      g += sumSquares(grads, s.offset, s.offset + s.size);
      w += sumSquares(after, s.offset, s.offset + s.size);
      u += sumSquares(after, s.offset, s.offset + s.size, before);
    }
    const weightNorm = Math.sqrt(w);
    const updateNorm = Math.sqrt(u);
    return {
      layer,
      gradNorm: Math.sqrt(g),
      weightNorm,
      updateNorm,
      updateRatio: weightNorm > 0 ? updateNorm / weightNorm : 0,
    };
  });
}

/**
 * Equal-width histogram of the finite values. A constant input (min = max) gets one bin of
 * width 1 around the value, so it still draws.
 */
export function histogram(values: Float32Array, bins = HISTOGRAM_BINS): Histogram {
  const native = nativeUpdates()?.histogram;
  return native === undefined ? histogramJs(values, bins) : histogramNative(native, values, bins);
}

/**
 * The addon's histogram (histogram.cc): the same double-precision passes in the same order, so
 * the same figures; it runs once per epoch, too rarely for V8 to optimize the JS loops, which
 * then took milliseconds of rank 0's step while its peer waited.
 */
function histogramNative(
  native: (v: Float32Array, bins: number, out: Float64Array) => void,
  values: Float32Array,
  bins: number,
): Histogram {
  const out = new Float64Array(6 + bins);
  native(values, bins, out);
  const [min, max, count, sum, sq, nonFinite] = Array.from(out.subarray(0, 6)) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (count === 0) return { min: 0, max: 0, count: 0, sum: 0, sumSquares: 0, edges: [], counts: [], nonFinite };
  const n = min === max ? 1 : bins;
  return {
    min,
    max,
    count,
    sum,
    sumSquares: sq,
    edges: binEdges(min, max, n),
    counts: Array.from(out.subarray(6, 6 + n)),
    nonFinite,
  };
}

/** n + 1 edges from min (less a half when min = max) in equal steps, the last exactly max. */
function binEdges(min: number, max: number, n: number): number[] {
  const lo = min === max ? min - 0.5 : min;
  const width = min === max ? 1 : (max - min) / n;
  return Array.from({ length: n + 1 }, (_, i) => (i === n && min !== max ? max : lo + i * width));
}

/** The plain loops, where the addon is not built (its test holds the two together). */
/**
 * Min, max, count, sum and sum of squares of the finite values: element i into lane i % 16 (the
 * tail from lane 0), lanes combined pairwise, neighbours first, ties to the left. The addon runs
 * the same order (diagnostics.cc's moments), so both give the same bits; sixteen lanes let it
 * vectorize where one serial chain made the pass 4x slower.
 */
function moments(values: Float32Array): { min: number; max: number; count: number; sum: number; sq: number } {
  const lo = new Float64Array(LANES).fill(Infinity);
  const hi = new Float64Array(LANES).fill(-Infinity);
  const s = new Float64Array(LANES);
  const q = new Float64Array(LANES);
  const c = new Float64Array(LANES);
  const add = (j: number, x: number): void => {
    const f = Number.isFinite(x);
    const xs = f ? x : 0;
    if (f && x < (lo[j] as number)) lo[j] = x;
    if (f && x > (hi[j] as number)) hi[j] = x;
    s[j] = (s[j] as number) + xs;
    q[j] = (q[j] as number) + xs * xs;
    if (f) c[j] = (c[j] as number) + 1;
  };
  let i = 0;
  for (; i + LANES <= values.length; i += LANES) for (let j = 0; j < LANES; j++) add(j, values[i + j] as number);
  for (let j = 0; i < values.length; i++, j++) add(j, values[i] as number);
  for (let width = LANES; width > 1; width /= 2) {
    for (let j = 0; j < width / 2; j++) {
      const [a, b] = [2 * j, 2 * j + 1];
      lo[j] = (lo[b] as number) < (lo[a] as number) ? (lo[b] as number) : (lo[a] as number);
      hi[j] = (hi[b] as number) > (hi[a] as number) ? (hi[b] as number) : (hi[a] as number);
      s[j] = (s[a] as number) + (s[b] as number);
      q[j] = (q[a] as number) + (q[b] as number);
      c[j] = (c[a] as number) + (c[b] as number);
    }
  }
  return { min: lo[0] as number, max: hi[0] as number, count: c[0] as number, sum: s[0] as number, sq: q[0] as number };
}

function histogramJs(values: Float32Array, bins = HISTOGRAM_BINS): Histogram {
  const { min, max, count, sum, sq } = moments(values);
  const nonFinite = values.length - count;
  if (count === 0) return { min: 0, max: 0, count: 0, sum: 0, sumSquares: 0, edges: [], counts: [], nonFinite };
  const n = min === max ? 1 : bins;
  const lo = min === max ? min - 0.5 : min;
  const width = min === max ? 1 : (max - min) / n;
  const counts = new Array<number>(n).fill(0);
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (!Number.isFinite(v)) continue;
    const b = Math.min(n - 1, Math.floor((v - lo) / width));
    counts[b] = (counts[b] as number) + 1;
  }
  return { min, max, count, sum, sumSquares: sq, edges: binEdges(min, max, n), counts, nonFinite };
}

/** Histograms of each variable's slice of `buf`, keyed by variable name. */
export function variableHistograms(
  slots: readonly VariableSlot[],
  buf: Float32Array,
  bins = HISTOGRAM_BINS,
): Record<string, Histogram> {
  const out: Record<string, Histogram> = {};
  for (const s of slots) out[s.name] = histogram(buf.subarray(s.offset, s.offset + s.size), bins);
  return out;
}

/**
 * Vanishing / exploding / non-finite gradient warnings for one step's statistics.
 * @param firstGlobalNorm the global norm first recorded in this run (for growth), if any
 */
export function gradientWarnings(layers: readonly LayerStats[], firstGlobalNorm?: number): DiagnosticWarning[] {
  const global = Math.sqrt(layers.reduce((s, l) => s + l.gradNorm * l.gradNorm, 0));
  if (!Number.isFinite(global)) {
    const bad = layers.filter((l) => !Number.isFinite(l.gradNorm)).map((l) => l.layer);
    return [
      {
        kind: 'non-finite-gradient',
        message: `gradient is not finite (NaN or Inf) in ${bad.join(', ')}: lower the learning rate or clip gradients`,
      },
    ];
  }
  const out: DiagnosticWarning[] = [];
  if (global > EXPLODING_ABSOLUTE) {
    out.push({
      kind: 'exploding-gradient',
      message: `global gradient norm ${fmt(global)} exceeds ${fmt(EXPLODING_ABSOLUTE)}: gradients are exploding; lower the learning rate or clip gradients`,
    });
  } else if (firstGlobalNorm !== undefined && firstGlobalNorm > 0 && global > EXPLODING_GROWTH * firstGlobalNorm) {
    out.push({
      kind: 'exploding-gradient',
      message: `global gradient norm grew from ${fmt(firstGlobalNorm)} to ${fmt(global)} (over ${EXPLODING_GROWTH}x): gradients are exploding; lower the learning rate or clip gradients`,
    });
  }
  if (global < VANISHING_ABSOLUTE) {
    out.push({
      kind: 'vanishing-gradient',
      message: `global gradient norm ${fmt(global)} is below ${fmt(VANISHING_ABSOLUTE)}: gradients have vanished and nothing learns`,
    });
    return out;
  }
  const largest = Math.max(...layers.map((l) => l.gradNorm));
  for (const l of layers) {
    if (l.gradNorm < VANISHING_RELATIVE * largest) {
      out.push({
        kind: 'vanishing-gradient',
        layer: l.layer,
        message: `layer ${l.layer} gradient norm ${fmt(l.gradNorm)} is under ${VANISHING_RELATIVE} of the largest layer's (${fmt(largest)}): its gradients are vanishing; try relu, a better initialisation or normalisation`,
      });
    }
  }
  return out;
}

/**
 * The exploding-gradient verdict of a whole epoch, from the largest global norm of its applied
 * steps: one step's surge is what matters, and the epoch's last step alone can look calm.
 * @param firstNorm the run's first step's norm (for growth), if known
 */
export function epochGradientWarning(
  epoch: number,
  maxNorm: number,
  firstNorm?: number,
): DiagnosticWarning | undefined {
  if (!Number.isFinite(maxNorm)) return undefined;
  if (maxNorm > EXPLODING_ABSOLUTE) {
    return {
      kind: 'exploding-gradient',
      message: `epoch ${epoch}'s largest global gradient norm ${fmt(maxNorm)} exceeds ${fmt(EXPLODING_ABSOLUTE)}: gradients are exploding; lower the learning rate or clip gradients (train.clipNorm)`,
    };
  }
  if (firstNorm !== undefined && firstNorm > 0 && maxNorm > EXPLODING_GROWTH * firstNorm) {
    return {
      kind: 'exploding-gradient',
      message: `epoch ${epoch}'s largest global gradient norm ${fmt(maxNorm)} is over ${EXPLODING_GROWTH}x the first step's (${fmt(firstNorm)}): gradients are exploding; lower the learning rate or clip gradients (train.clipNorm)`,
    };
  }
  return undefined;
}

/** Steps the non-finite guard skipped in an epoch (train.nonFinite skip), as a warning. */
export function skippedStepsWarning(epoch: number, skipped: number, steps: number): DiagnosticWarning | undefined {
  if (!(skipped > 0)) return undefined;
  return {
    kind: 'skipped-steps',
    message: `epoch ${epoch}: ${skipped} of ${steps} optimizer steps skipped because the loss or gradient was not finite (train.nonFinite skip); lower train.lr or set train.clipNorm`,
  };
}

export interface EpochLosses {
  epoch: number;
  trainLoss: number;
  valLoss: number;
}

/**
 * Over-fitting: validation loss rose while training loss fell, `patience` epochs in a row
 * (ending at the last epoch). One epoch of that is often noise, hence the patience.
 */
export function overfittingWarning(
  history: readonly EpochLosses[],
  patience = OVERFITTING_PATIENCE,
): DiagnosticWarning | undefined {
  if (history.length < patience + 1) return undefined;
  const tail = history.slice(-(patience + 1));
  for (let i = 1; i < tail.length; i++) {
    const prev = tail[i - 1] as EpochLosses;
    const cur = tail[i] as EpochLosses;
    if (!(cur.valLoss > prev.valLoss && cur.trainLoss < prev.trainLoss)) return undefined;
  }
  const first = tail[0] as EpochLosses;
  const last = tail[tail.length - 1] as EpochLosses;
  return {
    kind: 'overfitting',
    message:
      `over-fitting: from epoch ${first.epoch} to ${last.epoch} validation loss rose ${fmt(first.valLoss)} -> ${fmt(last.valLoss)} ` +
      `while training loss fell ${fmt(first.trainLoss)} -> ${fmt(last.trainLoss)}; consider early stopping, more data or regularisation`,
  };
}

function fmt(x: number): string {
  return Math.abs(x) >= 1e4 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(2) : x.toPrecision(4);
}
