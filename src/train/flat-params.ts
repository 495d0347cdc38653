/**
 * One fixed layout of a model's trainable variables in a flat Float32Array, the same on every
 * rank (model order), so gradients and weights can travel as one buffer and be cut back into
 * tensors. The buffers are allocated once and reused every step.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { tensorFloats } from '../compute';

export interface ParamSlot {
  name: string;
  shape: number[];
  offset: number;
  size: number;
}

const valOf = (w: tfl.LayerVariable): tf.Variable => (w as unknown as { val: tf.Variable }).val;

/** The trainable weights of the model's layers, split by whether their layer is in `frozen`. */
function trainableOf(model: tfl.LayersModel, frozen: ReadonlySet<string>, want: boolean): tfl.LayerVariable[] {
  return model.layers.filter((l) => frozen.has(l.name) === want).flatMap((l) => l.trainableWeights);
}

export class ParamLayout {
  readonly slots: ParamSlot[];
  readonly size: number;
  /** Each slot's 'layer/weight' name as model.json and checkpoints name it (stable across processes). */
  readonly weightNames: string[];

  /**
   * @param frozenLayers layers whose trainable weights were left out of this layout (freeze.ts),
   *   so a step computed another way knows to leave them alone.
   */
  constructor(
    private readonly variables: tf.Variable[],
    weightNames?: string[],
    readonly frozenLayers: readonly string[] = [],
  ) {
    let offset = 0;
    this.slots = variables.map((v) => {
      const size = v.size;
      const slot = { name: v.name, shape: v.shape.slice(), offset, size };
      offset += size;
      return slot;
    });
    this.size = offset;
    this.weightNames = weightNames ?? variables.map((v) => v.name);
  }

  private static of(weights: tfl.LayerVariable[], frozenLayers: readonly string[] = []): ParamLayout {
    return new ParamLayout(
      weights.map(valOf),
      weights.map((w) => w.originalName),
      frozenLayers,
    );
  }

  /**
   * The trainable variables, but those of `frozen` layers (freeze.ts): what a step computes
   * gradients for, all-reduces and updates.
   */
  static ofModel(model: tfl.LayersModel, frozen: ReadonlySet<string> = new Set()): ParamLayout {
    return frozen.size === 0
      ? ParamLayout.of(model.trainableWeights)
      : ParamLayout.of(trainableOf(model, frozen, false), [...frozen]);
  }

  /** The trainable variables of `frozen` layers: never trained, but checkpointed and broadcast at start. */
  static frozenOf(model: tfl.LayersModel, frozen: ReadonlySet<string>): ParamLayout {
    return ParamLayout.of(frozen.size === 0 ? [] : trainableOf(model, frozen, true));
  }

  /** The model's non-trainable variables (BatchNorm's running statistics): checkpoints keep them too. */
  static buffersOf(model: tfl.LayersModel): ParamLayout {
    return ParamLayout.of(model.nonTrainableWeights);
  }

  /** Variable shapes in layout order, to check that a checkpoint fits this model. */
  shapes(): number[][] {
    return this.slots.map((s) => s.shape.slice());
  }

  get vars(): tf.Variable[] {
    return this.variables;
  }

  /** Copies the current weights into `out` (for the initial broadcast and checkpoints). */
  readWeights(out: Float32Array): void {
    this.variables.forEach((v, i) => out.set(v.dataSync() as Float32Array, (this.slots[i] as ParamSlot).offset));
  }

  /** Overwrites the weights with the contents of `buf`. */
  writeWeights(buf: Float32Array): void {
    tf.tidy(() => {
      this.variables.forEach((v, i) => {
        const s = this.slots[i] as ParamSlot;
        // A new tensor each time, never a write into the old one's memory: the wasm backend's
        // XNNPACK operators keep packed copies of weights, cached by tensor, that would go stale.
        v.assign(tf.tensor(buf.subarray(s.offset, s.offset + s.size), s.shape, 'float32'));
      });
    });
  }

  /**
   * Copies the named gradients that fall in the elements [start, end) of the layout into `out`
   * (one bucket of the flat buffer); a missing gradient is zero. With `accumulate`, adds to what
   * `out` holds instead. A variable cut by a bucket boundary is read once per bucket it touches.
   */
  packRange(grads: tf.NamedTensorMap, out: Float32Array, start: number, end: number, accumulate = false): void {
    for (const s of this.slots) {
      const lo = Math.max(start, s.offset);
      const hi = Math.min(end, s.offset + s.size);
      if (lo >= hi) continue;
      const g = grads[s.name];
      if (g === undefined) {
        if (!accumulate) out.fill(0, lo, hi);
        continue;
      }
      // A view of the backend's memory (no copy on wasm), read before anything allocates.
      const d = tensorFloats(g).subarray(lo - s.offset, hi - s.offset);
      if (!accumulate) out.set(d, lo);
      else for (let i = 0; i < d.length; i++) out[lo + i] = (out[lo + i] as number) + (d[i] as number);
    }
  }

  /**
   * Copies named gradients into `out` in layout order; a missing gradient is zero. With
   * `accumulate`, adds them to what `out` holds instead (micro-batches of one optimizer step).
   */
  packGradients(grads: tf.NamedTensorMap, out: Float32Array, accumulate = false): void {
    this.packRange(grads, out, 0, this.size, accumulate);
  }

  /** Tensors over `buf` keyed by variable name, for optimizer.applyGradients (caller disposes). */
  unpackGradients(buf: Float32Array): tf.NamedTensorMap {
    const out: tf.NamedTensorMap = {};
    for (const s of this.slots) out[s.name] = tf.tensor(buf.subarray(s.offset, s.offset + s.size), s.shape, 'float32');
    return out;
  }
}
