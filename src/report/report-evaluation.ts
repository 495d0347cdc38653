/**
 * The report's evaluation parts: the saved model's per-class table and confusion matrix
 * (evaluation.json, written by rank 0 at the end of training), and for regression runs the
 * error curves (MSE, MAE) and R^2 that take the place of an accuracy chart.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ClassificationReport } from '../train';
import { PALETTE } from './plot-axes';
import { confusionPlot } from './plot-confusion';
import { linePlot } from './plot-line';
import type { Raster, Rgb } from './raster';
import { escapeHtml } from './report-html';
import { RUN_FILES, type MetricsLine } from '../record';

const EVALUATION_FILE = RUN_FILES.evaluation;

/** evaluation.json as the worker writes it (null where a figure was NaN). */
export interface Evaluation {
  split: string;
  samples: number;
  loss: number | null;
  accuracy: number | null;
  mse?: number | null;
  mae?: number | null;
  r2?: number | null;
  epochs?: number;
  stoppedEarly?: boolean;
  restoredEpoch?: number;
  report?: ClassificationReport;
}

export function readEvaluation(runDir: string): Evaluation | undefined {
  const file = path.join(runDir, EVALUATION_FILE);
  if (!fs.existsSync(file)) return undefined;
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Evaluation;
  } catch {
    return undefined;
  }
}

export const isRegression = (metrics: readonly MetricsLine[]): boolean =>
  metrics.some((m) => typeof m.mse === 'number') && !metrics.some((m) => typeof m.accuracy === 'number');

type Add = (file: string, raster: Raster, title: string, caption: string, section: 'curves' | 'evaluation') => void;

/** Regression curves: MSE and MAE per epoch (train MSE is the loss), and validation R^2. */
export function addRegressionCurves(metrics: readonly MetricsLine[], add: Add): void {
  const series = (split: string, key: 'mse' | 'mae' | 'r2'): [number, number][] =>
    metrics.filter((m) => m.split === split && typeof m[key] === 'number').map((m) => [m.epoch, m[key] as number]);
  add(
    'errors.png',
    linePlot({
      title: 'Regression error',
      xLabel: 'epoch',
      yLabel: 'error',
      yPin: { min: 0 },
      series: [
        { name: 'train MSE', color: PALETTE[0] as Rgb, points: series('train', 'mse'), markers: true },
        { name: 'validation MSE', color: PALETTE[1] as Rgb, points: series('val', 'mse'), markers: true },
        { name: 'validation MAE', color: PALETTE[2] as Rgb, points: series('val', 'mae'), markers: true },
      ],
    }),
    'Mean squared and absolute error',
    'Per epoch; a regression run has no accuracy. MSE is the training loss.',
    'curves',
  );
  add(
    'r2.png',
    linePlot({
      title: 'R^2 (validation)',
      xLabel: 'epoch',
      yLabel: 'R^2',
      series: [{ name: 'validation R^2', color: PALETTE[3] as Rgb, points: series('val', 'r2'), markers: true }],
    }),
    'Coefficient of determination',
    '1 - SS_res / SS_tot on the validation split, averaged over outputs; 1 is a perfect fit, 0 predicting the mean.',
    'curves',
  );
}

const f4 = (x: number | null | undefined): string => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(4) : '-');

/** The saved model's test figures, and for classification the confusion matrix and per-class table. */
export function evaluationSection(e: Evaluation | undefined, add: Add): string {
  if (e === undefined)
    return `<p>No ${EVALUATION_FILE} in this run (recorded before it existed, or the run did not finish): run <code>ringtrain eval --model RUN_DIR</code> for the per-class figures.</p>`;
  const ending =
    e.restoredEpoch !== undefined && e.restoredEpoch > 0
      ? `, weights of epoch ${e.restoredEpoch} (restored as the best)`
      : '';
  const stopped = e.stoppedEarly === true ? `; early stopping ended training after epoch ${e.epochs ?? '?'}` : '';
  const head = `<p>The saved model on the ${escapeHtml(e.split)} set (${e.samples} samples${ending}${stopped}): loss ${f4(e.loss)}${
    e.report !== undefined ? `, accuracy ${f4(e.accuracy)}` : `, MSE ${f4(e.mse)}, MAE ${f4(e.mae)}, R^2 ${f4(e.r2)}`
  }. <code>ringtrain eval</code> of the saved model gives the same figures.</p>`;
  const r = e.report;
  if (r === undefined) return head;
  const names = r.classes.map((c) => c.label ?? String(c.class));
  add(
    'confusion-matrix.png',
    confusionPlot(r.confusion, names, `Confusion matrix (${e.split})`),
    'Confusion matrix',
    'Rows: true class; columns: predicted. Shade: share of the row (the recall on the diagonal); numbers: counts.',
    'evaluation',
  );
  const rows = r.classes
    .map(
      (c, i) =>
        `<tr><td class="l">${escapeHtml(names[i] as string)}</td><td>${f4(c.precision)}</td><td>${f4(c.recall)}</td><td>${f4(c.f1)}</td><td>${c.support}</td></tr>`,
    )
    .join('\n');
  const avg = (name: string, a: { precision: number; recall: number; f1: number }): string =>
    `<tr><th class="l">${name}</th><td>${f4(a.precision)}</td><td>${f4(a.recall)}</td><td>${f4(a.f1)}</td><td>${r.classes.reduce((s, c) => s + c.support, 0)}</td></tr>`;
  return `${head}
<table><tr><th class="l">class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>
${rows}
${avg('macro avg', r.macro)}
${avg('weighted avg', r.weighted)}
</table>`;
}
