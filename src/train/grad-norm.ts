/**
 * Global-norm clipping and the non-finite check, as torch.nn.utils.clip_grad_norm_ does them.
 * Both run on the averaged gradient: after the all-reduce every rank holds identical bytes, so
 * computing the norm locally gives the same number on every rank and every rank takes the same
 * decision (clip, skip, stop) without another collective.
 */

/** L2 norm of `g`, accumulated in float64; NaN or Infinity when any element is. */
export function globalNorm(g: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < g.length; i++) {
    const v = g[i] as number;
    sum += v * v;
  }
  return Math.sqrt(sum);
}

/**
 * Scales `g` in place so its norm is at most `maxNorm` (clip_coef = max_norm / (norm + 1e-6),
 * clamped to 1, as torch). Returns the coefficient applied (1 when nothing changed).
 */
export function clipToNorm(g: Float32Array, norm: number, maxNorm: number): number {
  if (!(maxNorm > 0)) return 1;
  const coef = maxNorm / (norm + 1e-6);
  if (coef >= 1) return 1;
  for (let i = 0; i < g.length; i++) g[i] = (g[i] as number) * coef;
  return coef;
}
