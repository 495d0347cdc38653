/**
 * Magnitude pruning, torch.nn.utils.prune.l1_unstructured per kernel: the smallest |w| of each
 * dense and conv kernel (weights of two or more dimensions; biases and norm parameters stay
 * dense) are set to 0. During training the share rises on Zhu & Gupta's cubic schedule and a
 * mask keeps the pruned weights at 0: the all-reduced gradient is masked before its norm is
 * taken, and the weights again after every optimizer step (momentum would move them otherwise).
 * The mask is a function of the weights alone, which every rank holds bit for bit, so every rank
 * computes the same mask without a collective.
 */
import type { PruneSpec } from '../config';

/** A weight in a flat buffer (flat-params.ts's ParamSlot, or one of model.json's weights). */
export interface PrunableSlot {
  shape: readonly number[];
  offset: number;
  size: number;
}
type ParamSlot = PrunableSlot;

/** Slots pruning applies to: kernels (two or more dimensions). */
export function prunableSlots<S extends PrunableSlot>(slots: readonly S[]): S[] {
  return slots.filter((s) => s.shape.length >= 2);
}

/**
 * Sparsity that epoch `epoch` (1-based) trains at: 0 before startEpoch, then
 * s x (1 - (1 - k / n)^3) for the k-th of the n pruning epochs, s from endEpoch on.
 */
export function sparsityAt(spec: PruneSpec, epochs: number, epoch: number): number {
  if (spec.sparsity <= 0 || epoch < spec.startEpoch) return 0;
  const end = spec.endEpoch > 0 ? spec.endEpoch : epochs;
  const n = end - spec.startEpoch + 1;
  const k = Math.min(epoch - spec.startEpoch + 1, n);
  return spec.sparsity * (1 - (1 - k / n) ** 3);
}

/**
 * Zeroes the round(sparsity x size) smallest-magnitude entries of every prunable slot of
 * `params` and marks them in `mask` (0 = pruned, 1 = live). Entries already pruned count as the
 * smallest, so a rising schedule never brings a weight back. Ties break by position.
 */
export function pruneByMagnitude(
  params: Float32Array,
  mask: Float32Array,
  slots: readonly ParamSlot[],
  sparsity: number,
): void {
  for (const s of prunableSlots(slots)) {
    const k = Math.round(sparsity * s.size);
    const order = new Int32Array(s.size);
    for (let i = 0; i < s.size; i++) order[i] = i;
    const mag = (i: number): number =>
      (mask[s.offset + i] as number) === 0 ? -1 : Math.abs(params[s.offset + i] as number);
    order.sort((a, b) => mag(a) - mag(b) || a - b);
    for (let j = 0; j < k; j++) {
      const at = s.offset + (order[j] as number);
      params[at] = 0;
      mask[at] = 0;
    }
  }
}

/** buf[i] = 0 wherever mask[i] is 0 (gradients after the all-reduce, weights after a step). */
export function applyMask(buf: Float32Array, mask: Float32Array): void {
  for (let i = 0; i < mask.length; i++) if ((mask[i] as number) === 0) buf[i] = 0;
}

/** Share of the prunable slots' entries that are exactly 0. */
export function sparsityOf(params: Float32Array, slots: readonly ParamSlot[]): number {
  let zeros = 0;
  let total = 0;
  for (const s of prunableSlots(slots)) {
    for (let i = s.offset; i < s.offset + s.size; i++) if ((params[i] as number) === 0) zeros += 1;
    total += s.size;
  }
  return total > 0 ? zeros / total : 0;
}
