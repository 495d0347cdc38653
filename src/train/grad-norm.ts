/**
 * Global-norm clipping and the non-finite check, as torch.nn.utils.clip_grad_norm_ does them.
 * Both run on the averaged gradient: after the all-reduce every rank holds identical bytes, so
 * computing the norm locally gives the same number on every rank and every rank takes the same
 * decision (clip, skip, stop) without another collective.
 */
import { nativeUpdates } from '../native';

/**
 * L2 norm of `g`, accumulated in float64; NaN or Infinity when any element is. Four interleaved
 * lanes (element i into lane i % 4, then (l0 + l1) + (l2 + l3)): the native addon sums in the
 * same order, so a rank with the addon and one without get the same bits and the same decision.
 */
export function globalNorm(g: Float32Array): number {
  const native = nativeUpdates();
  if (native !== undefined) return Math.sqrt(native.sumSquares(g));
  let l0 = 0;
  let l1 = 0;
  let l2 = 0;
  let l3 = 0;
  const n = g.length;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const a = g[i] as number;
    const b = g[i + 1] as number;
    const c = g[i + 2] as number;
    const d = g[i + 3] as number;
    l0 += a * a;
    l1 += b * b;
    l2 += c * c;
    l3 += d * d;
  }
  // The remainder (n % 4 < 4 elements) lands in lanes 0, 1, 2, as the native loop adds it.
  if (i < n) l0 += (g[i] as number) * (g[i] as number);
  if (i + 1 < n) l1 += (g[i + 1] as number) * (g[i + 1] as number);
  if (i + 2 < n) l2 += (g[i + 2] as number) * (g[i + 2] as number);
  return Math.sqrt(l0 + l1 + (l2 + l3));
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
