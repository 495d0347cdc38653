/**
 * What every plot shares: "nice" tick values (1, 2, 5 x 10^k, as people read axes), tick label
 * formatting, a frame with grid lines and labels, and the linear maps from data to pixels.
 */
import { Raster, type Rgb } from './raster';
import { textWidth } from './raster-font';

export const INK: Rgb = [40, 40, 40];
export const GRID: Rgb = [225, 225, 225];
export const MUTED: Rgb = [110, 110, 110];
/** Text scale of labels; 2 makes the 5x7 font about 14 px tall. */
export const LABEL_SCALE = 2;

/** Series colours that stay apart for colour-blind readers (Okabe-Ito). */
export const PALETTE: readonly Rgb[] = [
  [0, 114, 178],
  [213, 94, 0],
  [0, 158, 115],
  [204, 121, 167],
  [230, 159, 0],
  [86, 180, 233],
  [0, 0, 0],
];

export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** About `count` round tick values covering [min, max]. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [];
  if (min === max) return [min];
  const raw = (max - min) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].find((m) => m * mag >= raw) ?? 10) * mag;
  const out: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

/** A tick label with as many decimals as the tick spacing needs; 12000 -> "12k". */
export function formatTick(v: number, step: number): string {
  // Past a billion (a diverged loss), M and k suffixes stop helping: exponent notation.
  if (Math.abs(v) >= 1e9 && step >= 1e8) return v.toExponential(1);
  if (Math.abs(v) >= 1e6 && step >= 1e5) return `${+(v / 1e6).toFixed(Math.max(0, -Math.floor(Math.log10(step / 1e6))))}M`;
  if (Math.abs(v) >= 1e4 && step >= 1e3) return `${+(v / 1e3).toFixed(Math.max(0, -Math.floor(Math.log10(step / 1e3))))}k`;
  if (step > 0 && step < 1e-4) return v === 0 ? '0' : v.toExponential(1);
  const decimals = step > 0 ? Math.max(0, -Math.floor(Math.log10(step) + 1e-9)) : 2;
  return v.toFixed(Math.min(decimals, 8));
}

export interface Scale {
  min: number;
  max: number;
  /** Data value -> pixel coordinate. */
  at(v: number): number;
}

export function linearScale(min: number, max: number, from: number, to: number): Scale {
  const span = max - min || 1;
  return { min, max, at: (v) => from + ((v - min) / span) * (to - from) };
}

/** Padded [min, max] of finite values, optionally pinned at a bound (0 for losses, 1 for accuracy). */
export function extent(values: readonly number[], pin?: { min?: number; max?: number }): [number, number] {
  const finite = values.filter(Number.isFinite);
  let lo = finite.length ? Math.min(...finite) : 0;
  let hi = finite.length ? Math.max(...finite) : 1;
  if (pin?.min !== undefined) lo = Math.min(lo, pin.min);
  if (pin?.max !== undefined) hi = Math.max(hi, pin.max);
  if (lo === hi) {
    const pad = Math.abs(lo) * 0.1 || 1;
    return [lo - pad, hi + pad];
  }
  const pad = (hi - lo) * 0.05;
  return [pin?.min !== undefined && lo === pin.min ? lo : lo - pad, pin?.max !== undefined && hi === pin.max ? hi : hi + pad];
}

export interface FrameOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  x: Scale;
  y: Scale;
  xTicks?: number[];
  yTicks?: number[];
  /** Tick label of a y value (default formatTick); a log plot labels 10^v. */
  yFormat?: (v: number, step: number) => string;
}

/** Title, grid, ticks and axis labels around `plot`; returns nothing, draws into `r`. */
export function drawFrame(r: Raster, plot: Rect, o: FrameOptions): void {
  r.text(plot.x + plot.w / 2, 8, o.title, INK, { scale: LABEL_SCALE, align: 'center' });
  const xt = o.xTicks ?? niceTicks(o.x.min, o.x.max, Math.max(2, Math.floor(plot.w / 110)));
  const yt = o.yTicks ?? niceTicks(o.y.min, o.y.max, Math.max(2, Math.floor(plot.h / 60)));
  const xStep = xt.length > 1 ? (xt[1] as number) - (xt[0] as number) : Math.abs(o.x.max - o.x.min) || 1;
  const yStep = yt.length > 1 ? (yt[1] as number) - (yt[0] as number) : Math.abs(o.y.max - o.y.min) || 1;
  for (const v of yt) {
    const py = Math.round(o.y.at(v));
    if (py < plot.y || py > plot.y + plot.h) continue;
    r.fillRect(plot.x, py, plot.w, 1, GRID);
    r.text(plot.x - 6, py - 7, (o.yFormat ?? formatTick)(v, yStep), INK, { scale: LABEL_SCALE, align: 'right' });
  }
  for (const v of xt) {
    const px = Math.round(o.x.at(v));
    if (px < plot.x || px > plot.x + plot.w) continue;
    r.fillRect(px, plot.y, 1, plot.h, GRID);
    r.fillRect(px, plot.y + plot.h, 1, 5, INK);
    r.text(px, plot.y + plot.h + 8, formatTick(v, xStep), INK, { scale: LABEL_SCALE, align: 'center' });
  }
  r.strokeRect(plot.x, plot.y, plot.w + 1, plot.h + 1, INK);
  r.text(plot.x + plot.w / 2, plot.y + plot.h + 30, o.xLabel, MUTED, { scale: LABEL_SCALE, align: 'center' });
  r.text(6, plot.y + plot.h / 2 + textWidth(o.yLabel, LABEL_SCALE) / 2, o.yLabel, MUTED, { scale: LABEL_SCALE, rotate: true });
}

/** A legend box in the plot's top-right corner. */
export function drawLegend(r: Raster, plot: Rect, entries: readonly { name: string; color: Rgb }[]): void {
  if (entries.length === 0) return;
  const w = Math.max(...entries.map((e) => textWidth(e.name, LABEL_SCALE))) + 40;
  const h = entries.length * 20 + 8;
  const x = plot.x + plot.w - w - 8;
  const y = plot.y + 8;
  r.fillRect(x, y, w, h, [255, 255, 255], 0.9);
  r.strokeRect(x, y, w, h, GRID);
  entries.forEach((e, i) => {
    const cy = y + 14 + i * 20;
    r.line(x + 8, cy, x + 26, cy, e.color, 3);
    r.text(x + 32, cy - 7, e.name, INK, { scale: LABEL_SCALE });
  });
}

/** Label of log10-space tick v: the value itself, two significant digits (0.0032, 1, 320). */
export function formatLogTick(v: number): string {
  const x = 10 ** v;
  if (x >= 1e4 || x < 1e-3) return x.toExponential(1).replace('e+', 'e');
  return String(+x.toPrecision(2));
}
