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
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step)
    out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

/** A tick label with as many decimals as the tick spacing needs; 12000 -> "12k". */
export function formatTick(v: number, step: number): string {
  // Past a billion (a diverged loss), M and k suffixes stop helping: exponent notation.
  if (Math.abs(v) >= 1e9 && step >= 1e8) return v.toExponential(1);
  if (Math.abs(v) >= 1e6 && step >= 1e5)
    return `${+(v / 1e6).toFixed(Math.max(0, -Math.floor(Math.log10(step / 1e6))))}M`;
  if (Math.abs(v) >= 1e4 && step >= 1e3)
    return `${+(v / 1e3).toFixed(Math.max(0, -Math.floor(Math.log10(step / 1e3))))}k`;
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
  return [
    pin?.min !== undefined && lo === pin.min ? lo : lo - pad,
    pin?.max !== undefined && hi === pin.max ? hi : hi + pad,
  ];
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
    r.text(px, plot.y + plot.h + 10, formatTick(v, xStep), INK, { scale: LABEL_SCALE, align: 'center' });
  }
  r.strokeRect(plot.x, plot.y, plot.w + 1, plot.h + 1, INK);
  r.text(plot.x + plot.w / 2, plot.y + plot.h + 32, o.xLabel, MUTED, { scale: LABEL_SCALE, align: 'center' });
  r.text(6, plot.y + plot.h / 2 + textWidth(o.yLabel, LABEL_SCALE) / 2, o.yLabel, MUTED, {
    scale: LABEL_SCALE,
    rotate: true,
  });
}

/** Space between a legend entry's swatch and its name, and each entry's height. */
const LEGEND_ROW = 20;
const LEGEND_SWATCH = 32;

export interface LegendEntry {
  name: string;
  color: Rgb;
}

/** Width of one legend entry (swatch and name). */
export function legendEntryWidth(e: LegendEntry): number {
  return LEGEND_SWATCH + textWidth(e.name, LABEL_SCALE) + 8;
}

/** Height of a legend of `rows` rows. */
export function legendHeight(rows: number): number {
  return rows * LEGEND_ROW + 8;
}

/**
 * A legend in `box`, outside the data: entries fill `columns` columns of equal width, row by
 * row. The box is recorded as the raster's "legend" part.
 */
export function drawLegend(r: Raster, box: Rect, entries: readonly LegendEntry[], columns = 1): void {
  if (entries.length === 0) return;
  r.parts.push({ ...box, what: 'legend' });
  r.strokeRect(box.x, box.y, box.w, box.h, GRID);
  const colW = Math.max(...entries.map(legendEntryWidth));
  entries.forEach((e, i) => {
    const x = box.x + 8 + (i % columns) * colW;
    const cy = box.y + 14 + Math.floor(i / columns) * LEGEND_ROW;
    r.line(x, cy, x + 18, cy, e.color, 3);
    r.text(x + 24, cy - 7, e.name, INK, { scale: LABEL_SCALE });
  });
}

/** Perceptual-ish distance of two colours ("redmean" weighted RGB). */
export function colorDistance(a: Rgb, b: Rgb): number {
  const rm = (a[0] + b[0]) / 2;
  const [dr, dg, db] = [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
  return Math.sqrt((2 + rm / 256) * dr * dr + 4 * dg * dg + (2 + (255 - rm) / 256) * db * db);
}

let extended: Rgb[] = [...PALETTE];

/**
 * `n` colours, pairwise as far apart as a greedy choice gets them: the Okabe-Ito palette first,
 * then from a grid of colours dark enough to read on white, each the one farthest from all
 * chosen so far. Any number of series gets colours of its own (they only come closer).
 */
export function distinctColors(n: number): Rgb[] {
  if (extended.length < n) {
    const levels = [0, 60, 120, 180, 240];
    const grid: Rgb[] = [];
    for (const r of levels)
      for (const g of levels) for (const b of levels) if (0.299 * r + 0.587 * g + 0.114 * b < 190) grid.push([r, g, b]);
    const chosen = [...extended];
    const left = grid.filter((c) => !chosen.some((p) => colorDistance(p, c) === 0));
    while (chosen.length < n && left.length > 0) {
      let best = 0;
      let bestD = -1;
      left.forEach((c, i) => {
        const d = Math.min(...chosen.map((p) => colorDistance(p, c)));
        if (d > bestD) [best, bestD] = [i, d];
      });
      chosen.push(left.splice(best, 1)[0] as Rgb);
    }
    extended = chosen;
  }
  // Past the grid (over a hundred series) colours repeat: the legend still names each line.
  return Array.from({ length: n }, (_, i) => extended[i % extended.length] as Rgb);
}

/** Label of log10-space tick v: the value itself, two significant digits (0.0032, 1, 320). */
export function formatLogTick(v: number): string {
  const x = 10 ** v;
  if (x >= 1e4 || x < 1e-3) return x.toExponential(1).replace('e+', 'e');
  return String(+x.toPrecision(2));
}
