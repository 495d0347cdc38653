/**
 * The report's training curves: loss, accuracy (or the regression errors), throughput and the
 * learning rate, per epoch, with every recorded step behind them.
 */
import { isRegression, addRegressionCurves } from './report-evaluation';
import { PALETTE } from './plot-axes';
import { linePlot, type Series } from './plot-line';
import type { Raster, Rgb } from './raster';
import { stepsOnEpochAxis, type CleanRun } from './report-data';
import type { ReportFigure } from './report-html';

type Add = (file: string, raster: Raster, title: string, caption: string, section: ReportFigure['section']) => void;

const STEP_COLOR: Rgb = [158, 202, 225];
const TRAIN = PALETTE[0] as Rgb;
const VAL = PALETTE[1] as Rgb;

/** Adds the curves to the report; a note says so when the run has no per-step record. */
export function addCurves(run: CleanRun, spec: Record<string, unknown> | undefined, add: Add, notes: string[]): void {
  const split = (name: string, key: 'loss' | 'accuracy' | 'samplesPerSec'): [number, number][] =>
    run.metrics.filter((m) => m.split === name).map((m) => [m.epoch, m[key] ?? NaN]);
  const steps = stepsOnEpochAxis(run.steps);
  const stepSeries = (name: string, pick: (s: (typeof steps)[number]['s']) => number): Series[] =>
    steps.length > 0 ? [{ name, color: STEP_COLOR, points: steps.map(({ x, s }) => [x, pick(s)]), width: 1.2 }] : [];
  if (steps.length === 0)
    notes.push('No step-level record (steps.jsonl) in this run: curves show one point per epoch.');

  add(
    'loss.png',
    linePlot({
      title: 'Loss',
      xLabel: 'epoch',
      yLabel: 'loss',
      yPin: { min: 0 },
      series: [
        ...stepSeries('train (steps)', (s) => s.loss),
        { name: 'train', color: TRAIN, points: split('train', 'loss'), markers: true },
        { name: 'validation', color: VAL, points: split('val', 'loss'), markers: true },
      ],
    }),
    'Loss, train vs validation',
    'Per epoch, with every training step behind it when recorded. Validation rising while training falls is over-fitting.',
    'curves',
  );
  if (isRegression(run.metrics)) addRegressionCurves(run.metrics, add);
  else {
    add(
      'accuracy.png',
      linePlot({
        title: 'Accuracy',
        xLabel: 'epoch',
        yLabel: 'accuracy',
        yPin: { max: 1 },
        series: [
          { name: 'train', color: TRAIN, points: split('train', 'accuracy'), markers: true },
          { name: 'validation', color: VAL, points: split('val', 'accuracy'), markers: true },
        ],
      }),
      'Accuracy, train vs validation',
      'Fraction of correct predictions per epoch.',
      'curves',
    );
  }
  add(
    'throughput.png',
    linePlot({
      title: 'Training throughput',
      xLabel: 'epoch',
      yLabel: 'samples/s',
      yPin: { min: 0 },
      series: [
        ...stepSeries('steps', (s) => s.samplesPerSec),
        { name: 'epoch mean', color: PALETTE[2] as Rgb, points: split('train', 'samplesPerSec'), markers: true },
      ],
    }),
    'Throughput',
    'Global training samples per second (all ranks), per step over a short window and per epoch.',
    'curves',
  );
  addLearningRate(run, spec, steps, split('train', 'loss'), add);
}

/** The learning rate per step when recorded, else per epoch, else the job spec's train.lr. */
function addLearningRate(
  run: CleanRun,
  spec: Record<string, unknown> | undefined,
  steps: ReturnType<typeof stepsOnEpochAxis>,
  trainLoss: [number, number][],
  add: Add,
): void {
  const lrFromMetrics = run.metrics
    .filter((m) => m.split === 'train' && typeof (m as { lr?: number }).lr === 'number')
    .map((m) => [m.epoch, (m as { lr?: number }).lr as number] as [number, number]);
  const specLr = (spec?.train as { lr?: number } | undefined)?.lr;
  const lrPoints: [number, number][] =
    steps.length > 0
      ? steps.map(({ x, s }) => [x, s.lr])
      : lrFromMetrics.length > 0
        ? lrFromMetrics
        : typeof specLr === 'number'
          ? trainLoss.map(([e]) => [e, specLr])
          : [];
  add(
    'learning-rate.png',
    linePlot({
      title: 'Learning rate',
      xLabel: 'epoch',
      yLabel: 'learning rate',
      yPin: { min: 0 },
      series: [{ name: 'lr', color: PALETTE[3] as Rgb, points: lrPoints, markers: steps.length === 0 }],
    }),
    'Learning rate',
    steps.length > 0
      ? 'The rate every step used.'
      : lrFromMetrics.length > 0
        ? "The rate of each epoch's last step."
        : "The job spec's train.lr (no per-step record).",
    'curves',
  );
}
