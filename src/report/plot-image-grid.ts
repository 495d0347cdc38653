/**
 * Small images in a grid: a convolution's filters (diverging blue-white-red around zero, one
 * shared scale so filters compare) or its feature maps (viridis, each map scaled to its own
 * range so weak maps still show their pattern).
 */
import { INK, LABEL_SCALE, MUTED } from './plot-axes';
import { Raster, type Rgb } from './raster';
import { textWidth } from './raster-font';

export interface GridImage {
  width: number;
  height: number;
  /** Row-major, width x height. */
  values: Float32Array;
  label?: string;
  /** Screen pixels per image pixel of this image (default: the grid's): inputs and maps drawn alike in size. */
  cell?: number;
}

export type Colormap = 'diverging' | 'viridis' | 'gray';

export interface ImageGridOptions {
  title: string;
  images: readonly GridImage[];
  /** Screen pixels per image pixel. */
  cell: number;
  columns: number;
  colormap: Colormap;
  /** One colour scale for every image (filters) rather than one per image (feature maps). */
  sharedScale: boolean;
}

const VIRIDIS: readonly Rgb[] = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
];

/** Colour of t in [0, 1] (diverging: 0.5 is white). */
export function colorAt(map: Colormap, t: number): Rgb {
  const u = Math.max(0, Math.min(1, Number.isFinite(t) ? t : 0.5));
  if (map === 'gray') {
    const g = Math.round(255 * u);
    return [g, g, g];
  }
  if (map === 'diverging') {
    const blue: Rgb = [33, 102, 172];
    const red: Rgb = [178, 24, 43];
    const end = u < 0.5 ? blue : red;
    const k = Math.abs(u - 0.5) * 2;
    return [
      Math.round(255 + (end[0] - 255) * k),
      Math.round(255 + (end[1] - 255) * k),
      Math.round(255 + (end[2] - 255) * k),
    ];
  }
  const pos = u * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(pos));
  const f = pos - i;
  const a = VIRIDIS[i] as Rgb;
  const b = VIRIDIS[i + 1] as Rgb;
  return [
    Math.round(a[0] + (b[0] - a[0]) * f),
    Math.round(a[1] + (b[1] - a[1]) * f),
    Math.round(a[2] + (b[2] - a[2]) * f),
  ];
}

function range(values: Float32Array): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : [0, 0];
}

export function imageGrid(o: ImageGridOptions): Raster {
  const cols = Math.max(1, Math.min(o.columns, o.images.length));
  const rows = Math.max(1, Math.ceil(o.images.length / cols));
  const cellOf = (i: GridImage): number => i.cell ?? o.cell;
  const maxW = Math.max(1, ...o.images.map((i) => i.width * cellOf(i)));
  const maxH = Math.max(1, ...o.images.map((i) => i.height * cellOf(i)));
  const labelH = o.images.some((i) => i.label) ? 20 : 0;
  const pad = 10;
  // A column is as wide as its widest image or label, so labels never run into the next one.
  const colW = Math.max(maxW, ...o.images.map((i) => textWidth(i.label ?? '', LABEL_SCALE)));
  const width = Math.max(cols * (colW + pad) + pad, 360, textWidth(o.title, LABEL_SCALE) + 2 * pad);
  const height = 40 + rows * (maxH + labelH + pad) + pad;
  const r = new Raster(width, height);
  r.text(width / 2, 10, o.title, INK, { scale: LABEL_SCALE, align: 'center' });
  let shared: [number, number] = [0, 0];
  if (o.sharedScale) {
    const all = o.images.map((i) => range(i.values));
    shared = [Math.min(...all.map((a) => a[0])), Math.max(...all.map((a) => a[1]))];
  }
  o.images.forEach((img, k) => {
    const cell = cellOf(img);
    const ox = pad + (k % cols) * (colW + pad) + Math.floor((colW - img.width * cell) / 2);
    const oy = 40 + Math.floor(k / cols) * (maxH + labelH + pad);
    let [lo, hi] = o.sharedScale ? shared : range(img.values);
    if (o.colormap === 'diverging') {
      const m = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
      [lo, hi] = [-m, m];
    }
    const span = hi - lo || 1;
    for (let py = 0; py < img.height; py++) {
      for (let px = 0; px < img.width; px++) {
        const v = img.values[py * img.width + px] as number;
        r.fillRect(ox + px * cell, oy + py * cell, cell, cell, colorAt(o.colormap, (v - lo) / span));
      }
    }
    r.strokeRect(ox - 1, oy - 1, img.width * cell + 2, img.height * cell + 2, [200, 200, 200]);
    if (img.label)
      r.text(ox + (img.width * cell) / 2, oy + img.height * cell + 5, img.label, MUTED, {
        scale: LABEL_SCALE,
        align: 'center',
      });
  });
  return r;
}
