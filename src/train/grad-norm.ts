/**
 * Global-norm clipping and the non-finite check, as torch.nn.utils.clip_grad_norm_ does them.
 * Both run on the averaged gradient: after the all-reduce every rank holds identical bytes, so
 * computing the norm locally gives the same number on every rank and every rank takes the same
 * decision (clip, skip, stop) without another collective.
 */
import { nativeUpdates } from '../native';

/** Interleaved float64 accumulators: the chains of dependent adds are n / LANES long. */
const LANES = 16;

/**
 * L2 norm of `g`, accumulated in float64; NaN or Infinity when any element is. Sixteen
 * interleaved lanes (element i into lane i % 16), then added pairwise, neighbours first: the
 * native addon sums in the same order, so a rank with the addon and one without get the same bits
 * and the same decision.
 */
export function globalNorm(g: Float32Array): number {
  const native = nativeUpdates();
  if (native !== undefined) return Math.sqrt(native.sumSquares(g));
  const lanes = new Float64Array(LANES);
  const n = g.length;
  let i = 0;
  for (; i + LANES <= n; i += LANES) {
    for (let j = 0; j < LANES; j++) lanes[j] = (lanes[j] as number) + (g[i + j] as number) * (g[i + j] as number);
  }
  for (let j = 0; i < n; i++, j++) lanes[j] = (lanes[j] as number) + (g[i] as number) * (g[i] as number);
  for (let width = LANES; width > 1; width /= 2) {
    for (let j = 0; j < width / 2; j++) lanes[j] = (lanes[2 * j] as number) + (lanes[2 * j + 1] as number);
  }
  return Math.sqrt(lanes[0] as number);
}

/**
 * Scales `g` in place so its norm is at most `maxNorm` (clip_coef = max_norm / (norm + 1e-6),
 * clamped to 1, as torch). Returns the coefficient applied (1 when nothing changed).
 */
export function clipToNorm(g: Float32Array, norm: number, maxNorm: number): number {
  if (!(maxNorm > 0)) return 1;
  const coef = maxNorm / (norm + 1e-6);
  if (coef >= 1) return 1;
  const native = nativeUpdates();
  if (native !== undefined) native.scaleBy(g, coef);
  else for (let i = 0; i < g.length; i++) g[i] = (g[i] as number) * coef;
  return coef;
}
