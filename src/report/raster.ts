/**
 * A small RGB raster with the drawing the report's plots need: rectangles, anti-aliased lines,
 * dots and bitmap text. Lines are drawn by coverage (distance from each pixel centre to the
 * segment), which gives smooth curves at any slope without a graphics library.
 */
import { GLYPH_ADVANCE, GLYPH_HEIGHT, GLYPH_WIDTH, glyph, textWidth } from './raster-font';

export type Rgb = readonly [number, number, number];

export const WHITE: Rgb = [255, 255, 255];

export interface TextOptions {
  scale?: number;
  /** Horizontal anchor of (x, y): y is always the top of the text (left of it when rotated). */
  align?: 'left' | 'center' | 'right';
  /** Draw bottom-to-top, for y-axis labels; `align` then applies along the vertical. */
  rotate?: boolean;
}

/** Where a piece of text or a named part of a plot landed, in pixels. */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
  /** The text drawn, or the part's name ("plot", "legend"). */
  what: string;
}

export class Raster {
  /** RGBA, row-major, 4 bytes per pixel; alpha is always 255. */
  readonly data: Uint8Array;
  /** Every text drawn, so tests can check that no two labels overlap and none leaves the image. */
  readonly texts: Box[] = [];
  /** Named areas a plot reserved (its data area, its legend). */
  readonly parts: Box[] = [];

  constructor(
    readonly width: number,
    readonly height: number,
    background: Rgb = WHITE,
  ) {
    if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
      throw new Error(`raster size must be positive integers, got ${width}x${height}`);
    }
    this.data = new Uint8Array(width * height * 4);
    for (let i = 0; i < width * height; i++) this.data.set([background[0], background[1], background[2], 255], i * 4);
  }

  /** Mixes colour `c` into pixel (x, y) with weight `a` in [0, 1]; off-canvas pixels are ignored. */
  blend(x: number, y: number, c: Rgb, a = 1): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height || a <= 0) return;
    const i = (y * this.width + x) * 4;
    const w = Math.min(1, a);
    const d = this.data;
    d[i] = Math.round((d[i] as number) * (1 - w) + c[0] * w);
    d[i + 1] = Math.round((d[i + 1] as number) * (1 - w) + c[1] * w);
    d[i + 2] = Math.round((d[i + 2] as number) * (1 - w) + c[2] * w);
  }

  pixel(x: number, y: number): Rgb {
    const i = (y * this.width + x) * 4;
    return [this.data[i] as number, this.data[i + 1] as number, this.data[i + 2] as number];
  }

  fillRect(x: number, y: number, w: number, h: number, c: Rgb, alpha = 1): void {
    const x0 = Math.max(0, Math.round(x));
    const y0 = Math.max(0, Math.round(y));
    const x1 = Math.min(this.width, Math.round(x + w));
    const y1 = Math.min(this.height, Math.round(y + h));
    for (let py = y0; py < y1; py++) for (let px = x0; px < x1; px++) this.blend(px, py, c, alpha);
  }

  /** An outline one pixel wide. */
  strokeRect(x: number, y: number, w: number, h: number, c: Rgb): void {
    this.fillRect(x, y, w, 1, c);
    this.fillRect(x, y + h - 1, w, 1, c);
    this.fillRect(x, y, 1, h, c);
    this.fillRect(x + w - 1, y, 1, h, c);
  }

  /** Anti-aliased segment of the given width, in pixel coordinates (pixel centres at +0.5). */
  line(x0: number, y0: number, x1: number, y1: number, c: Rgb, width = 1.5, alpha = 1): void {
    if (![x0, y0, x1, y1].every(Number.isFinite)) return;
    const r = width / 2;
    const minX = Math.max(0, Math.floor(Math.min(x0, x1) - r - 1));
    const maxX = Math.min(this.width - 1, Math.ceil(Math.max(x0, x1) + r + 1));
    const minY = Math.max(0, Math.floor(Math.min(y0, y1) - r - 1));
    const maxY = Math.min(this.height - 1, Math.ceil(Math.max(y0, y1) + r + 1));
    const dx = x1 - x0;
    const dy = y1 - y0;
    const len2 = dx * dx + dy * dy;
    for (let py = minY; py <= maxY; py++) {
      for (let px = minX; px <= maxX; px++) {
        const cx = px + 0.5;
        const cy = py + 0.5;
        const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((cx - x0) * dx + (cy - y0) * dy) / len2));
        const dist = Math.hypot(cx - (x0 + t * dx), cy - (y0 + t * dy));
        const coverage = Math.max(0, Math.min(1, r + 0.5 - dist));
        if (coverage > 0) this.blend(px, py, c, coverage * alpha);
      }
    }
  }

  /** Connected segments; a non-finite point breaks the line (a gap, not a spike). */
  polyline(points: readonly (readonly [number, number])[], c: Rgb, width = 1.5): void {
    for (let i = 1; i < points.length; i++) {
      const [ax, ay] = points[i - 1] as readonly [number, number];
      const [bx, by] = points[i] as readonly [number, number];
      this.line(ax, ay, bx, by, c, width);
    }
  }

  /** A filled, anti-aliased disc (plot markers). */
  dot(cx: number, cy: number, radius: number, c: Rgb): void {
    for (let py = Math.floor(cy - radius - 1); py <= Math.ceil(cy + radius + 1); py++) {
      for (let px = Math.floor(cx - radius - 1); px <= Math.ceil(cx + radius + 1); px++) {
        const d = Math.hypot(px + 0.5 - cx, py + 0.5 - cy);
        this.blend(px, py, c, Math.max(0, Math.min(1, radius + 0.5 - d)));
      }
    }
  }

  text(x: number, y: number, s: string, c: Rgb, opts: TextOptions = {}): void {
    const scale = opts.scale ?? 1;
    const w = textWidth(s, scale);
    const shift = opts.align === 'center' ? w / 2 : opts.align === 'right' ? w : 0;
    const h = GLYPH_HEIGHT * scale;
    if (s.length > 0)
      this.texts.push(opts.rotate ? { x, y: y - w + shift, w: h, h: w, what: s } : { x: x - shift, y, w, h, what: s });
    for (let k = 0; k < s.length; k++) {
      const rows = glyph(s[k] as string);
      for (let row = 0; row < GLYPH_HEIGHT; row++) {
        const mask = rows[row] as number;
        for (let col = 0; col < GLYPH_WIDTH; col++) {
          if (!(mask & (1 << (GLYPH_WIDTH - 1 - col)))) continue;
          const along = k * GLYPH_ADVANCE * scale + col * scale - shift;
          if (opts.rotate) this.fillRect(x + row * scale, y - along - scale, scale, scale, c);
          else this.fillRect(x + along, y + row * scale, scale, scale, c);
        }
      }
    }
  }
}
