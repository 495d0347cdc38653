/**
 * `ringtrain report RUN_DIR`: reads what a run left behind and writes RUN_DIR/report/ (or --out):
 * one PNG per plot and index.html with all of them embedded. Every input but metrics.jsonl or
 * job.json is optional, so a run recorded before the diagnostics existed (or one that crashed)
 * still gets the report its files allow, with a note for each part that is missing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { selectBackend } from '../compute';
import { RingtrainError } from '../config/errors';
import { DIRECTORY_USES, makeDirectory } from '../config/make-directory';
import { loadMnist, readRows } from '../data';
import { loadModelFromDir } from '../train/model-files';
import type { DiagnosticWarning, Histogram } from '../train/diagnostics';
import { PALETTE } from './plot-axes';
import { variableHistogramPlot, type HistogramFrame } from './plot-histogram';
import { linePlot, type Series } from './plot-line';
import { encodePng } from './png';
import type { Raster, Rgb } from './raster';
import { cleanRun, stepsOnEpochAxis, timingFromLogs, timingTable } from './report-data';
import { addDiagnostics } from './report-diagnostics';
import { addRegressionCurves, evaluationSection, isRegression, readEvaluation } from './report-evaluation';
import { renderReportHtml, type ReportFigure } from './report-html';
import { modelViews } from './report-model';
import type { FeatureMapRequest, Sample } from './report-feature-maps';
import { RUN_FILES, readRunFiles } from './run-files';

export interface ReportOptions {
  /** Where to write; default RUN_DIR/report. */
  outDir?: string;
  now?: Date;
  /** Feature maps of these layers for the first N test images (default: the first convolution, one image). */
  featureMaps?: FeatureMapRequest;
}

export interface ReportResult {
  dir: string;
  html: string;
  pngs: string[];
  warnings: DiagnosticWarning[];
  notes: string[];
}

const STEP_COLOR: Rgb = [158, 202, 225];
const TRAIN = PALETTE[0] as Rgb;
const VAL = PALETTE[1] as Rgb;

function fileStem(name: string): string {
  return name.replace(/[^A-Za-z0-9_.-]+/g, '_');
}

export async function writeReport(runDir: string, o: ReportOptions = {}): Promise<ReportResult> {
  const dir = path.resolve(runDir);
  const has = (f: string): boolean => fs.existsSync(path.join(dir, f));
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new RingtrainError('DATA_INVALID', `run directory ${dir} does not exist: pass the --out directory of a ringtrain launch (default runs/<job>-<time>)`);
  }
  if (!has(RUN_FILES.metrics) && !has(RUN_FILES.job)) {
    throw new RingtrainError('DATA_INVALID', `${dir} is not a run directory: it has neither ${RUN_FILES.metrics} nor ${RUN_FILES.job}; pass the --out directory of a ringtrain launch`);
  }
  const files = readRunFiles(dir);
  const run = cleanRun(files);
  const spec = files.job;
  const job = typeof spec?.name === 'string' ? spec.name : path.basename(dir);
  const notes: string[] = [];
  const figures: ReportFigure[] = [];
  const add = (file: string, raster: Raster, title: string, caption: string, section: ReportFigure['section']): void => {
    figures.push({ file, png: encodePng(raster.width, raster.height, raster.data), title, caption, section });
  };

  const split = (name: string, key: 'loss' | 'accuracy' | 'samplesPerSec'): [number, number][] =>
    run.metrics.filter((m) => m.split === name).map((m) => [m.epoch, m[key] ?? NaN]);
  const steps = stepsOnEpochAxis(run.steps);
  const stepSeries = (name: string, pick: (s: (typeof steps)[number]['s']) => number): Series[] =>
    steps.length > 0 ? [{ name, color: STEP_COLOR, points: steps.map(({ x, s }) => [x, pick(s)]), width: 1.2 }] : [];
  if (steps.length === 0) notes.push('No step-level record (steps.jsonl) in this run: curves show one point per epoch.');

  add('loss.png', linePlot({ title: 'Loss', xLabel: 'epoch', yLabel: 'loss', yPin: { min: 0 }, series: [
    ...stepSeries('train (steps)', (s) => s.loss),
    { name: 'train', color: TRAIN, points: split('train', 'loss'), markers: true },
    { name: 'validation', color: VAL, points: split('val', 'loss'), markers: true },
  ] }), 'Loss, train vs validation', 'Per epoch, with every training step behind it when recorded. Validation rising while training falls is over-fitting.', 'curves');
  if (isRegression(run.metrics)) addRegressionCurves(run.metrics, add);
  else {
    add('accuracy.png', linePlot({ title: 'Accuracy', xLabel: 'epoch', yLabel: 'accuracy', yPin: { max: 1 }, series: [
      { name: 'train', color: TRAIN, points: split('train', 'accuracy'), markers: true },
      { name: 'validation', color: VAL, points: split('val', 'accuracy'), markers: true },
    ] }), 'Accuracy, train vs validation', 'Fraction of correct predictions per epoch.', 'curves');
  }
  add('throughput.png', linePlot({ title: 'Training throughput', xLabel: 'epoch', yLabel: 'samples/s', yPin: { min: 0 }, series: [
    ...stepSeries('steps', (s) => s.samplesPerSec),
    { name: 'epoch mean', color: PALETTE[2] as Rgb, points: split('train', 'samplesPerSec'), markers: true },
  ] }), 'Throughput', 'Global training samples per second (all ranks), per step over a short window and per epoch.', 'curves');
  const lrFromMetrics = run.metrics.filter((m) => m.split === 'train' && typeof (m as { lr?: number }).lr === 'number').map((m) => [m.epoch, (m as { lr?: number }).lr as number] as [number, number]);
  const specLr = (spec?.train as { lr?: number } | undefined)?.lr;
  const lrPoints: [number, number][] =
    steps.length > 0 ? steps.map(({ x, s }) => [x, s.lr]) : lrFromMetrics.length > 0 ? lrFromMetrics : typeof specLr === 'number' ? split('train', 'loss').map(([e]) => [e, specLr]) : [];
  add('learning-rate.png', linePlot({ title: 'Learning rate', xLabel: 'epoch', yLabel: 'learning rate', yPin: { min: 0 }, series: [{ name: 'lr', color: PALETTE[3] as Rgb, points: lrPoints, markers: steps.length === 0 }] }),
    'Learning rate', steps.length > 0 ? 'The rate every step used.' : lrFromMetrics.length > 0 ? 'The rate of each epoch\'s last step.' : 'The job spec\'s train.lr (no per-step record).', 'curves');

  const warnings = addDiagnostics(run, add);
  const evaluation = evaluationSection(readEvaluation(dir), add);

  const variables = [...new Set(run.histograms.map((h) => h.variable))];
  const frames = (variable: string, kind: 'weights' | 'gradients'): HistogramFrame[] =>
    run.histograms.filter((h) => h.variable === variable && h.kind === kind).map((h) => ({ label: `epoch ${h.epoch}`, h: h.histogram as Histogram }));
  for (const v of variables) {
    add(`histogram-${fileStem(v)}.png`, variableHistogramPlot(v, frames(v, 'weights'), frames(v, 'gradients')), `Histograms of ${v}`, 'One ridge per recorded epoch, earliest at the back.', 'histograms');
  }

  const modelDir = path.join(dir, RUN_FILES.model);
  if (fs.existsSync(path.join(modelDir, 'model.json'))) {
    try {
      // One forward pass: wasm is fast to start and prints nothing; cpu is the fallback.
      await selectBackend('wasm').catch(() => selectBackend('cpu'));
      const model = await loadModelFromDir(modelDir);
      const samples: Sample[] = [];
      const data = spec?.data as { dataset?: string; dir?: string } | undefined;
      const want = o.featureMaps ?? { layers: [], images: 1 };
      if ((data?.dataset ?? 'mnist') === 'mnist') {
        try {
          const test = loadMnist({ dir: data?.dir ?? '', trainLimit: 1, testLimit: want.images }).test;
          for (let i = 0; i < test.count; i++) samples.push({ x: readRows(test, i, i + 1).slice(), label: test.labels[i] });
        } catch (e) {
          notes.push(`The test images could not be loaded (${(e as Error).message}).`);
        }
      }
      const views = modelViews(model, samples, want);
      for (const p of views.plots) add(`${p.name}.png`, p.raster, p.name === 'filters' ? 'First-layer filters' : p.name.startsWith('feature-maps') ? `Feature maps${p.layer === undefined ? '' : ` of ${p.layer}`}` : 'First-layer weights', p.caption, 'model');
      notes.push(...views.notes);
      model.dispose();
    } catch (e) {
      // A layer --feature-maps names that the model lacks is the user's to fix: no report without it.
      if (e instanceof RingtrainError && e.code === 'CONFIG_INVALID') throw e;
      notes.push(`The saved model in ${modelDir} could not be loaded: ${(e as Error).message}`);
    }
  } else {
    notes.push(`No saved model in ${modelDir} (the run did not finish?).`);
  }

  let timing = run.timing;
  let timingSource = `${RUN_FILES.timing} (every rank, all-gathered each epoch)`;
  if (timing.length === 0) {
    timing = timingFromLogs(dir);
    timingSource = `the workers' epoch log lines in ${RUN_FILES.logs}/ (only ranks that log epochs; ${RUN_FILES.timing} is missing)`;
  }

  const out = path.resolve(o.outDir ?? path.join(dir, 'report'));
  makeDirectory(out, DIRECTORY_USES.report);
  const pngs: string[] = [];
  for (const f of figures) {
    const file = path.join(out, f.file);
    fs.writeFileSync(file, f.png);
    pngs.push(file);
  }
  const html = path.join(out, 'index.html');
  fs.writeFileSync(
    html,
    renderReportHtml({
      job,
      runDir: dir,
      generatedAt: o.now ?? new Date(),
      spec,
      metrics: run.metrics,
      warnings,
      evaluation,
      lastLayers: run.diagnostics[run.diagnostics.length - 1]?.layers ?? [],
      timing: timingTable(timing),
      timingSource,
      figures,
      notes,
    }),
  );
  return { dir: out, html, pngs, warnings, notes };
}
