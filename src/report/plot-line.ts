/**
 * Line plots for the report: loss and accuracy (train vs val), throughput, learning rate,
 * gradient norms. Series may be dense (a point per step) or sparse (a point per epoch, drawn
 * with markers so a two-epoch run still shows something).
 */
import { drawFrame, drawLegend, extent, formatLogTick, linearScale, type Rect } from './plot-axes';
import { Raster, type Rgb } from './raster';

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

/** The plot area inside a raster of the given size (room for labels around it). */
export function plotArea(width: number, height: number): Rect {
  return { x: 96, y: 36, w: width - 96 - 16, h: height - 36 - 56 };
}

export function linePlot(o: LinePlotOptions): Raster {
  const width = o.width ?? PLOT_WIDTH;
  const height = o.height ?? PLOT_HEIGHT;
  const r = new Raster(width, height);
  const plot = plotArea(width, height);
  const ty = (v: number): number => (o.logY ? (v > 0 ? Math.log10(v) : NaN) : v);
  const xs = o.series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = o.series.flatMap((s) => s.points.map((p) => ty(p[1])));
  const [x0, x1] = extent(xs);
  const [y0, top] = extent(ys, o.logY ? undefined : o.yPin);
  // Headroom for the legend, unless the top is pinned (accuracy's 1.0).
  const y1 = !o.logY && o.yPin?.max !== undefined && top === o.yPin.max ? top : top + (top - y0) * 0.12;
  const x = linearScale(xs.length > 0 ? Math.min(...xs.filter(Number.isFinite)) : x0, xs.length > 0 ? Math.max(...xs.filter(Number.isFinite)) : x1, plot.x, plot.x + plot.w);
  if (x.min === x.max) Object.assign(x, linearScale(x0, x1, plot.x, plot.x + plot.w));
  const y = linearScale(y0, y1, plot.y + plot.h, plot.y);
  drawFrame(r, plot, { title: o.title, xLabel: o.xLabel, yLabel: o.logY ? `${o.yLabel} (log scale)` : o.yLabel, x, y, yFormat: o.logY ? formatLogTick : undefined });
  for (const s of o.series) {
    const pts = s.points.map(([px, py]) => [x.at(px), y.at(ty(py))] as const);
    // Split at non-finite points so a NaN loss leaves a gap instead of a line to nowhere.
    let run: (readonly [number, number])[] = [];
    // A finite point between two gaps (steps around skipped ones) is a dot, not nothing.
    const flush = (): void => {
      if (run.length === 1) r.dot((run[0] as readonly [number, number])[0], (run[0] as readonly [number, number])[1], Math.max(1.5, s.width ?? 2), s.color);
      else r.polyline(run, s.color, s.width ?? 2);
      run = [];
    };
    for (const p of pts) {
      if (Number.isFinite(p[0]) && Number.isFinite(p[1])) run.push(p);
      else flush();
    }
    flush();
    if (s.markers || s.points.length === 1) for (const [px, py] of pts) if (Number.isFinite(py)) r.dot(px, py, 4, s.color);
  }
  drawLegend(r, plot, o.series.filter((s) => s.points.length > 0));
  // Points that are NaN or infinite cannot be drawn: say how many, so a diverged run's plot is not mistaken for an empty record.
  const all = o.series.flatMap((s) => s.points);
  const bad = all.filter((p) => !Number.isFinite(p[1])).length;
  if (bad > 0) r.text(4, height - 10, `${bad} of ${all.length} points not finite (NaN or Inf): not drawn`, [170, 60, 60], { scale: 1 });
  if (o.series.every((s) => s.points.length === 0)) r.text(plot.x + plot.w / 2, plot.y + plot.h / 2 - 7, 'no data recorded', [150, 150, 150], { scale: 2, align: 'center' });
  return r;
}
