/**
 * Weight and gradient histograms over epochs, drawn as TensorBoard's "offset" view: one ridge per
 * epoch, the earliest at the back (top), the latest at the front (bottom), so a distribution that
 * widens, collapses or drifts over training shows as a changing outline.
 */
import type { Histogram } from '../train';
import { INK, LABEL_SCALE, MUTED, formatTick, linearScale, niceTicks, type Rect } from './plot-axes';
import { Raster, type Rgb } from './raster';
import { textWidth } from './raster-font';

export interface HistogramFrame {
  /** "epoch 3": drawn beside the ridge. */
  label: string;
  h: Histogram;
}

const BACK: Rgb = [170, 200, 230];
const FRONT: Rgb = [0, 90, 160];

function mix(a: Rgb, b: Rgb, t: number): Rgb {
  return [
    Math.round(a[0] + (b[0] - a[0]) * t),
    Math.round(a[1] + (b[1] - a[1]) * t),
    Math.round(a[2] + (b[2] - a[2]) * t),
  ];
}

/** Draws the ridges of `frames` into `area` of `r`, with a title above and an x axis below. */
export function drawHistogramRidges(r: Raster, area: Rect, title: string, frames: readonly HistogramFrame[]): void {
  r.text(area.x + area.w / 2, area.y - 28, title, INK, { scale: LABEL_SCALE, align: 'center' });
  const usable = frames.filter((f) => f.h.counts.length > 0);
  if (usable.length === 0) {
    r.text(area.x + area.w / 2, area.y + area.h / 2, 'no data recorded', [150, 150, 150], {
      scale: 2,
      align: 'center',
    });
    return;
  }
  const lo = Math.min(...usable.map((f) => f.h.edges[0] as number));
  const hi = Math.max(...usable.map((f) => f.h.edges[f.h.edges.length - 1] as number));
  const x = linearScale(lo, hi, area.x, area.x + area.w);
  const n = usable.length;
  const peak = n > 1 ? area.h * 0.45 : area.h * 0.9;
  const gap = n > 1 ? (area.h - peak) / (n - 1) : 0;
  // Ridges closer than a label's height share labels: every k-th from the latest, which always has one.
  const labelEvery = gap > 0 ? Math.max(1, Math.ceil(16 / gap)) : 1;
  usable.forEach((f, i) => {
    const base = area.y + peak + i * gap;
    const color = mix(BACK, FRONT, n > 1 ? i / (n - 1) : 1);
    const top = Math.max(...f.h.counts) || 1;
    const outline: [number, number][] = [];
    f.h.counts.forEach((c, b) => {
      const px0 = x.at(f.h.edges[b] as number);
      const px1 = x.at(f.h.edges[b + 1] as number);
      const height = (c / top) * peak;
      // Hide the ridges behind, then paint this one.
      r.fillRect(px0, base - height, Math.max(1, px1 - px0), height, [255, 255, 255]);
      r.fillRect(px0, base - height, Math.max(1, px1 - px0), height, color, 0.55);
      outline.push([px0, base - height], [px1, base - height]);
    });
    r.polyline(outline, color, 1.5);
    r.fillRect(area.x, Math.round(base), area.w, 1, [200, 200, 200]);
    if ((n - 1 - i) % labelEvery === 0) r.text(area.x + area.w + 6, base - 7, f.label, MUTED, { scale: LABEL_SCALE });
  });
  const ticks = niceTicks(lo, hi, Math.max(4, Math.floor(area.w / 90)));
  const step = ticks.length > 1 ? (ticks[1] as number) - (ticks[0] as number) : hi - lo;
  const axisY = area.y + area.h + 4;
  r.fillRect(area.x, axisY, area.w, 1, INK);
  for (const t of ticks) {
    const px = Math.round(x.at(t));
    r.fillRect(px, axisY, 1, 5, INK);
    r.text(px, axisY + 8, formatTick(t, step), INK, { scale: LABEL_SCALE, align: 'center' });
  }
}

/** One variable's weights (left) and gradients (right) over the recorded epochs. */
export function variableHistogramPlot(
  variable: string,
  weights: readonly HistogramFrame[],
  grads: readonly HistogramFrame[],
): Raster {
  const width = 1000;
  const height = 380;
  const r = new Raster(width, height);
  r.text(width / 2, 6, variable, INK, { scale: LABEL_SCALE, align: 'center' });
  // Each panel keeps room on its right for its ridge labels ("epoch 12").
  const labelW = Math.max(...[...weights, ...grads].map((f) => textWidth(f.label, LABEL_SCALE)), 0) + 12;
  const panelW = (width - 3 * 24 - 2 * labelW) / 2;
  drawHistogramRidges(r, { x: 24, y: 66, w: panelW, h: height - 66 - 40 }, 'weights', weights);
  drawHistogramRidges(r, { x: 24 + panelW + labelW + 24, y: 66, w: panelW, h: height - 66 - 40 }, 'gradients', grads);
  return r;
}
