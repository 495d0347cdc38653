/**
 * The report's gradient diagnostics: global norms (the diagnosed step's, and each epoch's mean
 * and largest), per-layer norms and update ratios, and the warnings of the run. Warnings come
 * from diagnostics.jsonl, where the workers wrote them as they fired; over-fitting is also worked
 * out from metrics.jsonl, for runs recorded before the workers wrote it there.
 */
import { overfittingWarning, type DiagnosticWarning } from '../train';
import { PALETTE } from './plot-axes';
import { linePlot, type Series } from './plot-line';
import type { Raster, Rgb } from './raster';
import type { CleanRun } from './report-data';

type Add = (file: string, raster: Raster, title: string, caption: string, section: 'diagnostics') => void;

/** The diagnostics' charts, and their warnings with the over-fitting one judged from the curves. */
export function addDiagnostics(run: CleanRun, add: Add): DiagnosticWarning[] {
  const warnings: DiagnosticWarning[] = [];
  const seen = new Set<string>();
  if (run.diagnostics.length > 0) plotDiagnostics(run, add);
  for (const d of run.diagnostics) {
    for (const w of d.warnings) {
      seen.add(w.message);
      warnings.push({
        ...w,
        message:
          w.message.startsWith('epoch ') || w.kind === 'overfitting' ? w.message : `epoch ${d.epoch}: ${w.message}`,
      });
    }
  }
  for (let e = 1; e <= run.metrics.length; e++) {
    const history = run.metrics
      .filter((m) => m.split === 'train' && m.epoch <= e)
      .map((t) => ({
        epoch: t.epoch,
        trainLoss: t.loss,
        valLoss: run.metrics.find((v) => v.split === 'val' && v.epoch === t.epoch)?.loss ?? NaN,
      }));
    const w = overfittingWarning(history);
    if (w && !seen.has(w.message)) {
      seen.add(w.message);
      warnings.push(w);
    }
  }
  return warnings;
}

/** Gradient norms (epoch max and mean, global and per layer) and update ratios, per epoch. */
function plotDiagnostics(run: CleanRun, add: Add): void {
  // Every layer any epoch diagnosed: an epoch whose steps were all skipped has none.
  const layers = [...new Set(run.diagnostics.flatMap((d) => d.layers.map((l) => l.layer)))];
  const perLayer = (key: 'gradNorm' | 'updateRatio'): Series[] =>
    layers.map((layer, i) => ({
      name: layer,
      color: PALETTE[(i + 3) % PALETTE.length] as Rgb,
      markers: true,
      points: run.diagnostics.map(
        (d) => [d.epoch, d.layers.find((l) => l.layer === layer)?.[key] ?? NaN] as [number, number],
      ),
    }));
  const epochSeries = (
    name: string,
    color: number,
    pick: (d: (typeof run.diagnostics)[number]) => number | undefined,
  ): Series[] => {
    const points = run.diagnostics
      .filter((d) => typeof pick(d) === 'number')
      .map((d) => [d.epoch, pick(d) as number] as [number, number]);
    return points.length > 0 ? [{ name, color: PALETTE[color] as Rgb, markers: true, points }] : [];
  };
  add(
    'gradient-norms.png',
    linePlot({
      title: 'Gradient norms',
      xLabel: 'epoch',
      yLabel: 'L2 norm',
      logY: true,
      series: [
        ...epochSeries('epoch max', 1, (d) => d.maxGradNorm),
        ...epochSeries('epoch mean', 2, (d) => d.meanGradNorm),
        {
          name: 'global (last step)',
          color: PALETTE[0] as Rgb,
          markers: true,
          points: run.diagnostics.map((d) => [d.epoch, d.globalGradNorm]),
        },
        ...perLayer('gradNorm'),
      ],
    }),
    'Gradient norms',
    'L2 norm of the averaged gradient (log scale): the largest and the mean over the applied steps of each epoch, and globally and per layer at the last step of each epoch. The exploding-gradient check judges the largest; norms falling by orders of magnitude toward the input mean vanishing gradients.',
    'diagnostics',
  );
  add(
    'update-ratios.png',
    linePlot({
      title: 'Update / weight ratio',
      xLabel: 'epoch',
      yLabel: 'ratio',
      logY: true,
      series: perLayer('updateRatio'),
    }),
    'Update-to-weight ratio',
    "Norm of one step's weight change over the norm of the weights, per layer (log scale); about 1e-3 is healthy.",
    'diagnostics',
  );
}
