/**
 * `ringtrain report RUN_DIR`: reads what a run left behind and writes RUN_DIR/report/ (or --out):
 * one PNG per plot and index.html with all of them embedded. Every input but metrics.jsonl or
 * job.json is optional, so a run recorded before the diagnostics existed (or one that crashed)
 * still gets the report its files allow, with a note for each part that is missing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { selectBackend } from '../compute';
import { RingtrainError, DIRECTORY_USES, makeDirectory } from '../core';
import { loadMnist, readRows } from '../data';
import { loadModelFromDir, type DiagnosticWarning, type Histogram } from '../train';
import { variableHistogramPlot, type HistogramFrame } from './plot-histogram';
import { encodePng } from './png';
import type { Raster } from './raster';
import { cleanRun, timingFromLogs, timingTable, type CleanRun } from './report-data';
import { addCurves } from './report-curves';
import { addDiagnostics } from './report-diagnostics';
import { evaluationSection, readEvaluation } from './report-evaluation';
import { renderReportHtml, type ReportFigure } from './report-html';
import { modelViews } from './report-model';
import type { FeatureMapRequest, Sample } from './report-feature-maps';
import { RUN_FILES, readRunFiles } from '../record';

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

function fileStem(name: string): string {
  return name.replace(/[^A-Za-z0-9_.-]+/g, '_');
}

/** Refuses a path that is not the --out directory of a run, saying what to pass instead. */
function checkRunDir(dir: string): void {
  const has = (f: string): boolean => fs.existsSync(path.join(dir, f));
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new RingtrainError(
      'DATA_INVALID',
      `run directory ${dir} does not exist: pass the --out directory of a ringtrain launch (default runs/<job>-<time>)`,
    );
  }
  if (!has(RUN_FILES.metrics) && !has(RUN_FILES.job)) {
    throw new RingtrainError(
      'DATA_INVALID',
      `${dir} is not a run directory: it has neither ${RUN_FILES.metrics} nor ${RUN_FILES.job}; pass the --out directory of a ringtrain launch`,
    );
  }
}

type Add = (file: string, raster: Raster, title: string, caption: string, section: ReportFigure['section']) => void;

/** One ridge plot per variable, weights beside gradients. */
function addHistograms(run: CleanRun, add: Add): void {
  const variables = [...new Set(run.histograms.map((h) => h.variable))];
  const frames = (variable: string, kind: 'weights' | 'gradients'): HistogramFrame[] =>
    run.histograms
      .filter((h) => h.variable === variable && h.kind === kind)
      .map((h) => ({ label: `epoch ${h.epoch}`, h: h.histogram as Histogram }));
  for (const v of variables) {
    add(
      `histogram-${fileStem(v)}.png`,
      variableHistogramPlot(v, frames(v, 'weights'), frames(v, 'gradients')),
      `Histograms of ${v}`,
      'One ridge per recorded epoch, earliest at the back.',
      'histograms',
    );
  }
}

/** The saved model's first-layer weights or filters and feature maps; notes say what is missing. */
async function addModelViews(
  dir: string,
  spec: Record<string, unknown> | undefined,
  add: Add,
  notes: string[],
  want: FeatureMapRequest,
): Promise<void> {
  const modelDir = path.join(dir, RUN_FILES.model);
  if (fs.existsSync(path.join(modelDir, 'model.json'))) {
    try {
      // One forward pass: wasm is fast to start and prints nothing; cpu is the fallback.
      await selectBackend('wasm').catch(() => selectBackend('cpu'));
      const model = await loadModelFromDir(modelDir);
      const samples: Sample[] = [];
      const data = spec?.data as { dataset?: string; dir?: string } | undefined;
      if ((data?.dataset ?? 'mnist') === 'mnist') {
        try {
          const test = loadMnist({ dir: data?.dir ?? '', trainLimit: 1, testLimit: want.images }).test;
          for (let i = 0; i < test.count; i++)
            samples.push({ x: readRows(test, i, i + 1).slice(), label: test.labels[i] });
        } catch (e) {
          notes.push(`The test images could not be loaded (${(e as Error).message}).`);
        }
      }
      const views = modelViews(model, samples, want);
      for (const p of views.plots)
        add(
          `${p.name}.png`,
          p.raster,
          p.name === 'filters'
            ? 'First-layer filters'
            : p.name.startsWith('feature-maps')
              ? `Feature maps${p.layer === undefined ? '' : ` of ${p.layer}`}`
              : 'First-layer weights',
          p.caption,
          'model',
        );
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
}

export async function writeReport(runDir: string, o: ReportOptions = {}): Promise<ReportResult> {
  const dir = path.resolve(runDir);
  checkRunDir(dir);
  const files = readRunFiles(dir);
  const run = cleanRun(files);
  const spec = files.job;
  const job = typeof spec?.name === 'string' ? spec.name : path.basename(dir);
  const notes: string[] = [];
  const figures: ReportFigure[] = [];
  const add = (
    file: string,
    raster: Raster,
    title: string,
    caption: string,
    section: ReportFigure['section'],
  ): void => {
    figures.push({ file, png: encodePng(raster.width, raster.height, raster.data), title, caption, section });
  };

  addCurves(run, spec, add, notes);

  const warnings = addDiagnostics(run, add);
  const evaluation = evaluationSection(readEvaluation(dir), add);

  addHistograms(run, add);

  await addModelViews(dir, spec, add, notes, o.featureMaps ?? { layers: [], images: 1 });

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
