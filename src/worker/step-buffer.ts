/**
 * The one buffer a training step all-reduces, laid out as the gradients, then what rides in the
 * same all-reduce so it costs no collective of its own:
 *   [gradients | loss | mean class weight | loss x rows, correct, rows | model buffers]
 * The loss and mean class weight make the step's loss and its class-weighted mean global; the
 * train sums let a re-formed ring know what a lost rank had trained; the model's buffers
 * (batch-norm moving statistics) end as every rank's mean, so replicas evaluate and export the
 * same ones. This module owns that layout and what happens to it around the all-reduce.
 */
import type { LocalStepResult } from '../train';

/** Slots right behind the gradients: the step's loss and its rows' mean class weight. */
const STEP_HEAD = 2;
/** Train sums each step adds: loss x rows, correct, rows. */
const STEP_SUMS = 3;

/** Floats a step buffer needs for `params` gradients and `buffers` model buffers. */
export function stepBufferLength(params: number, buffers: number): number {
  return params + STEP_HEAD + STEP_SUMS + buffers;
}

export class StepBuffer {
  /** The gradients (the optimizer's view). */
  readonly gradients: Float32Array;
  /** The model's buffers, written before the all-reduce and read after it. */
  readonly modelBuffers: Float32Array;
  private readonly lossAt: number;
  private readonly weightAt: number;
  private readonly sumsAt: number;

  /** `all` is stepBufferLength(params, ...) floats, e.g. Communicator.allocateShared's. */
  constructor(
    readonly all: Float32Array,
    params: number,
  ) {
    this.lossAt = params;
    this.weightAt = params + 1;
    this.sumsAt = params + STEP_HEAD;
    this.gradients = all.subarray(0, params);
    this.modelBuffers = all.subarray(this.sumsAt + STEP_SUMS);
  }

  /** Adds one micro-batch's loss, mean class weight and train sums (its gradients go in apart). */
  addLocal(local: LocalStepResult, rows: number): void {
    const a = this.all;
    // The gradient is of the loss x mean weight (loss.ts); the loss slot carries the same.
    a[this.lossAt] = (a[this.lossAt] as number) + local.loss * local.weightMean;
    a[this.weightAt] = (a[this.weightAt] as number) + local.weightMean;
    a[this.sumsAt] = (a[this.sumsAt] as number) + local.loss * rows;
    a[this.sumsAt + 1] = (a[this.sumsAt + 1] as number) + local.correct;
    a[this.sumsAt + 2] = (a[this.sumsAt + 2] as number) + rows;
  }

  /**
   * After allReduceMean over `world` ranks of a step of `micro` micro-batches: adds the step's
   * global train sums (loss x rows, correct, rows; counts rounded to integers) to `running`,
   * makes the gradients and loss the step's, and returns the loss. With class weights (`weighted`)
   * they are sums of w x loss over rows: divided by the global batch's mean weight they are
   * torch's weighted mean over the whole global batch, whatever the ranks' shares held; a global
   * batch of weight-0 rows keeps a zero gradient.
   */
  finish(world: number, micro: number, weighted: boolean, running: [number, number, number]): number {
    const a = this.all;
    // Means back to sums; the counts are integers (rounding undoes fp16/bf16 wire rounding).
    running[0] += (a[this.sumsAt] as number) * world;
    running[1] += Math.round((a[this.sumsAt + 1] as number) * world);
    running[2] += Math.round((a[this.sumsAt + 2] as number) * world);
    if (micro > 1) for (let i = 0; i <= this.weightAt; i++) a[i] = (a[i] as number) / micro;
    const weightMean = a[this.weightAt] as number;
    if (weighted && weightMean > 0) for (let i = 0; i <= this.lossAt; i++) a[i] = (a[i] as number) / weightMean;
    return a[this.lossAt] as number;
  }

  /**
   * Zeroes the buffer for the next step; with `gradientsOverwritten` only what follows the
   * gradients, since the step's first micro-batch writes every gradient (the fused step does).
   */
  clear(gradientsOverwritten = false): void {
    if (gradientsOverwritten) this.all.fill(0, this.lossAt);
    else this.all.fill(0);
  }
}
