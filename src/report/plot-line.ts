/**
 * Line plots for the report: loss and accuracy (train vs val), throughput, learning rate,
 * gradient norms. Series may be dense (a point per step) or sparse (a point per epoch, drawn
 * with markers so a two-epoch run still shows something).
 */
import {
  LABEL_SCALE,
  PALETTE,
  colorDistance,
  distinctColors,
  drawFrame,
  drawLegend,
  extent,
  formatLogTick,
  formatTick,
  legendEntryWidth,
  legendHeight,
  linearScale,
  niceTicks,
  type Rect,
  type Scale,
} from './plot-axes';
import { Raster, type Rgb } from './raster';
import { textWidth } from './raster-font';

export interface Series {
  name: string;
  color: Rgb;
  points: readonly (readonly [number, number])[];
  /** Draw a dot at each point (epoch-level series). */
  markers?: boolean;
  width?: number;
}

export interface LinePlotOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  width?: number;
  height?: number;
  /** Keep these values inside the y range (0 for losses, 0 and 1 for accuracy). */
  yPin?: { min?: number; max?: number };
  /** Plot log10(y); non-positive values are left out. */
  logY?: boolean;
}

export const PLOT_WIDTH = 760;
export const PLOT_HEIGHT = 420;

/** Where a line plot puts things: sizes depend on its tick labels and legend. */
export interface LineLayout {
  width: number;
  height: number;
  plot: Rect;
  /** The legend's box and columns, outside the data (right of it, or below the x axis title). */
  legend?: { box: Rect; columns: number };
  x: Scale;
  y: Scale;
  /** Each series' colour after making them distinct. */
  colors: Rgb[];
}

/**
 * Colours as given, except that a colour an earlier series already has is replaced by the
 * next one of distinctColors nobody uses: no two lines of a plot share a colour.
 */
export function distinctSeriesColors(series: readonly Series[]): Rgb[] {
  const spare = distinctColors(series.length * 2 + PALETTE.length);
  const used: Rgb[] = [];
  for (const s of series) {
    const taken = (c: Rgb): boolean => used.some((u) => colorDistance(u, c) < 1);
    used.push(taken(s.color) ? (spare.find((c) => !taken(c)) as Rgb) : s.color);
  }
  return used;
}

function ySpace(
  o: LinePlotOptions,
  y0: number,
  y1: number,
  top: number,
  bottom: number,
): { y: Scale; labelWidth: number } {
  const y = linearScale(y0, y1, bottom, top);
  const ticks = niceTicks(y0, y1, Math.max(2, Math.floor((bottom - top) / 60)));
  const step = ticks.length > 1 ? (ticks[1] as number) - (ticks[0] as number) : Math.abs(y1 - y0) || 1;
  const format = o.logY ? formatLogTick : formatTick;
  return { y, labelWidth: Math.max(0, ...ticks.map((v) => textWidth(format(v, step), LABEL_SCALE))) };
}

export function lineLayout(o: LinePlotOptions): LineLayout {
  const width = o.width ?? PLOT_WIDTH;
  let height = o.height ?? PLOT_HEIGHT;
  const ty = (v: number): number => (o.logY ? (v > 0 ? Math.log10(v) : NaN) : v);
  const xs = o.series.flatMap((s) => s.points.map((p) => p[0])).filter(Number.isFinite);
  const [y0, y1] = extent(
    o.series.flatMap((s) => s.points.map((p) => ty(p[1]))),
    o.logY ? undefined : o.yPin,
  );
  const colors = distinctSeriesColors(o.series);
  const entries = o.series
    .map((s, i) => ({ name: s.name, color: colors[i] as Rgb }))
    .filter((_, i) => (o.series[i] as Series).points.length > 0);
  const top = 36;
  const bottom = height - 56;
  const [xa, xb] = xs.length > 0 ? [Math.min(...xs), Math.max(...xs)] : extent(xs);
  const [x0, x1] = xa === xb ? extent([xa]) : [xa, xb];
  const xTicks = niceTicks(x0, x1, 6).map((v, _i, all) =>
    formatTick(v, all.length > 1 ? (all[1] as number) - (all[0] as number) : 1),
  );
  const right = Math.ceil(Math.max(16, ...xTicks.map((t) => textWidth(t, LABEL_SCALE) / 2 + 6)));
  // Left: the rotated y title (14 px), a gap, the widest y tick label, a gap.
  const left = 36 + ySpace(o, y0, y1, top, bottom).labelWidth;
  const entryW = Math.max(0, ...entries.map(legendEntryWidth));
  let legend: LineLayout['legend'];
  let plotW = width - left - right;
  if (entries.length > 0 && entryW + 24 <= width * 0.4 && legendHeight(entries.length) <= bottom - top) {
    // Right of the data, in a column of its own.
    plotW = width - left - Math.max(right, entryW + 32);
    legend = {
      box: { x: left + plotW + Math.max(right, 16), y: top, w: entryW + 8, h: legendHeight(entries.length) },
      columns: 1,
    };
  } else if (entries.length > 0) {
    // Too many or too long for a column: rows under the x axis title, the image grows to hold them.
    const columns = Math.max(1, Math.min(entries.length, Math.floor((width - 24) / entryW)));
    const rows = Math.ceil(entries.length / columns);
    legend = { box: { x: 12, y: bottom + 52, w: columns * entryW + 8, h: legendHeight(rows) }, columns };
    height += legendHeight(rows) + 8;
  }
  const plot: Rect = { x: left, y: top, w: plotW, h: bottom - top };
  const x = linearScale(x0, x1, plot.x, plot.x + plot.w);
  return { width, height, plot, legend, x, y: ySpace(o, y0, y1, plot.y, plot.y + plot.h).y, colors };
}

export function linePlot(o: LinePlotOptions): Raster {
  const L = lineLayout(o);
  const { plot, x, y, width, height } = L;
  const r = new Raster(width, height);
  r.parts.push({ ...plot, what: 'plot' });
  const ty = (v: number): number => (o.logY ? (v > 0 ? Math.log10(v) : NaN) : v);
  drawFrame(r, plot, {
    title: o.title,
    xLabel: o.xLabel,
    yLabel: o.logY ? `${o.yLabel} (log scale)` : o.yLabel,
    x,
    y,
    yFormat: o.logY ? formatLogTick : undefined,
  });
  o.series.forEach((s, i) => {
    const color = L.colors[i] as Rgb;
    const pts = s.points.map(([px, py]) => [x.at(px), y.at(ty(py))] as const);
    // Split at non-finite points so a NaN loss leaves a gap instead of a line to nowhere.
    let run: (readonly [number, number])[] = [];
    // A finite point between two gaps (steps around skipped ones) is a dot, not nothing.
    const flush = (): void => {
      if (run.length === 1)
        r.dot(
          (run[0] as readonly [number, number])[0],
          (run[0] as readonly [number, number])[1],
          Math.max(1.5, s.width ?? 2),
          color,
        );
      else r.polyline(run, color, s.width ?? 2);
      run = [];
    };
    for (const p of pts) {
      if (Number.isFinite(p[0]) && Number.isFinite(p[1])) run.push(p);
      else flush();
    }
    flush();
    if (s.markers || s.points.length === 1)
      for (const [px, py] of pts) if (Number.isFinite(py)) r.dot(px, py, 4, color);
  });
  if (L.legend !== undefined) {
    drawLegend(
      r,
      L.legend.box,
      o.series
        .map((s, i) => ({ name: s.name, color: L.colors[i] as Rgb }))
        .filter((_, i) => (o.series[i] as Series).points.length > 0),
      L.legend.columns,
    );
  }
  // Points that are NaN or infinite cannot be drawn: say how many, so a diverged run's plot is not mistaken for an empty record.
  const all = o.series.flatMap((s) => s.points);
  const bad = all.filter((p) => !Number.isFinite(p[1])).length;
  if (bad > 0)
    r.text(plot.x, 26, `${bad} of ${all.length} points not finite (NaN or Inf): not drawn`, [170, 60, 60], {
      scale: 1,
    });
  if (o.series.every((s) => s.points.length === 0))
    r.text(plot.x + plot.w / 2, plot.y + plot.h / 2 - 7, 'no data recorded', [150, 150, 150], {
      scale: 2,
      align: 'center',
    });
  return r;
}
