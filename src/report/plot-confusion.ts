/**
 * The confusion matrix as a heat map: rows are the true class, columns the predicted one, each
 * cell shaded by its share of the row (so a rare class's errors show as plainly as a common
 * one's) and labelled with its count while cells are large enough to hold it.
 */
import { INK, LABEL_SCALE, MUTED } from './plot-axes';
import { Raster, type Rgb } from './raster';
import { textWidth } from './raster-font';

const HIGH: Rgb = [8, 69, 148];
const LOW: Rgb = [247, 251, 255];

function shade(t: number): Rgb {
  const u = Math.max(0, Math.min(1, Number.isFinite(t) ? t : 0));
  return [0, 1, 2].map((i) =>
    Math.round((LOW[i] as number) + ((HIGH[i] as number) - (LOW[i] as number)) * u),
  ) as unknown as Rgb;
}

export function confusionPlot(
  confusion: readonly (readonly number[])[],
  names: readonly string[],
  title: string,
): Raster {
  const k = confusion.length;
  const cell = Math.max(12, Math.min(56, Math.floor(560 / Math.max(1, k))));
  const ls = cell >= 28 ? 2 : 1;
  const labelWidth = Math.max(...names.map((n) => textWidth(n, ls)), 10) + 12;
  // Column labels read across when every one fits its column, else bottom to top.
  const across = names.every((n) => textWidth(n, ls) <= cell - 2);
  const below = across ? 7 * ls + 16 : labelWidth;
  const left = 44 + labelWidth;
  const top = 48;
  const width = left + k * cell + 24;
  const height = top + k * cell + below + 40;
  const r = new Raster(width, height);
  r.text(width / 2, 10, title, INK, { scale: LABEL_SCALE, align: 'center' });
  const countScale = cell >= 40 ? 2 : 1;
  for (let t = 0; t < k; t++) {
    const row = confusion[t] ?? [];
    const support = row.reduce((a, b) => a + b, 0);
    for (let p = 0; p < k; p++) {
      const v = row[p] ?? 0;
      const share = support > 0 ? v / support : 0;
      const x = left + p * cell;
      const y = top + t * cell;
      r.fillRect(x, y, cell - 1, cell - 1, shade(share));
      const text = String(v);
      // A count is written only where it fits; the shade still tells the share.
      if (textWidth(text, countScale) <= cell - 4)
        r.text(x + cell / 2, y + cell / 2 - (7 * countScale) / 2, text, share > 0.5 ? [255, 255, 255] : INK, {
          scale: countScale,
          align: 'center',
        });
    }
    r.text(left - 6, top + t * cell + cell / 2 - (7 * ls) / 2, names[t] ?? String(t), INK, {
      scale: ls,
      align: 'right',
    });
  }
  for (let p = 0; p < k; p++) {
    const name = names[p] ?? String(p);
    if (across) r.text(left + p * cell + cell / 2, top + k * cell + 6, name, INK, { scale: ls, align: 'center' });
    else
      r.text(left + p * cell + cell / 2 - (7 * ls) / 2, top + k * cell + 6, name, INK, {
        scale: ls,
        rotate: true,
        align: 'right',
      });
  }
  r.text(left + (k * cell) / 2, height - 22, 'predicted class', MUTED, { scale: LABEL_SCALE, align: 'center' });
  r.text(10, top + (k * cell) / 2, 'true class', MUTED, { scale: LABEL_SCALE, rotate: true, align: 'center' });
  return r;
}
