/**
 * The files a run directory holds for people and for `ringtrain report`, their record shapes,
 * and tolerant readers (a run killed mid-write leaves a torn last line, which is skipped).
 *
 *   metrics.jsonl      epoch x split: loss, accuracy, samplesPerSec (written by the worker loop)
 *   steps.jsonl        one line per optimizer step: loss, samples/s, lr (RunRecorder)
 *   diagnostics.jsonl  one line per epoch: gradient norms (last step's per layer, the epoch's mean and max), update ratios, skipped steps, warnings (RunRecorder)
 *   histograms.jsonl   one line per epoch x variable x kind (weights | gradients) (RunRecorder)
 *   timing.jsonl       one line per epoch x rank: seconds in data/compute/communication/update (and peerWait, part of communication)
 *   evaluation.json    the saved model's test metrics, per-class report and confusion matrix (worker, at the end)
 *   tensorboard/train, tensorboard/validation   TensorBoard event files (RunRecorder)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { appendFileNamed } from '../core';
import type { DiagnosticWarning, Histogram, LayerStats } from '../train';

export const RUN_FILES = {
  metrics: 'metrics.jsonl',
  steps: 'steps.jsonl',
  diagnostics: 'diagnostics.jsonl',
  histograms: 'histograms.jsonl',
  timing: 'timing.jsonl',
  evaluation: 'evaluation.json',
  job: 'job.json',
  model: 'model',
  tensorboard: 'tensorboard',
  logs: 'logs',
} as const;

export interface MetricsLine {
  epoch: number;
  split: string;
  loss: number;
  /** Classification; regression lines have mse (and val mae, r2) instead. */
  accuracy: number;
  samplesPerSec: number;
  mse?: number;
  mae?: number;
  r2?: number;
  /** Train lines: steps the non-finite guard skipped, and the epoch's largest gradient norm. */
  skippedSteps?: number;
  maxGradNorm?: number;
}

export interface StepLine {
  step: number;
  epoch: number;
  loss: number;
  samplesPerSec: number;
  lr: number;
  /** Seconds since the Unix epoch. */
  time: number;
}

export interface DiagnosticsLine {
  epoch: number;
  /** The diagnosed step (the epoch's last applied one); layers is [] when none was diagnosed. */
  step: number;
  globalGradNorm: number;
  layers: LayerStats[];
  /** Warnings of the epoch: the diagnosed step's, the epoch's gradient norms', skipped steps, over-fitting. */
  warnings: DiagnosticWarning[];
  /** Mean and largest global gradient norm over the epoch's applied steps (absent in older runs). */
  meanGradNorm?: number;
  maxGradNorm?: number;
  skippedSteps?: number;
}

export interface HistogramLine {
  epoch: number;
  step: number;
  kind: 'weights' | 'gradients';
  variable: string;
  histogram: Histogram;
}

export interface RankTiming {
  rank: number;
  steps: number;
  samples: number;
  data: number;
  compute: number;
  communication: number;
  update: number;
  /** Part of communication spent waiting for a slower rank; absent in runs recorded before it existed. */
  peerWait?: number;
}

export interface TimingLine extends RankTiming {
  epoch: number;
}

/** JSON lines of `file`, skipping blank and unparsable lines (a torn tail); [] when absent. */
export function readJsonLines<T>(file: string): T[] {
  if (!fs.existsSync(file)) return [];
  const out: T[] = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      // A line cut short by a crash: the rest of the file is still worth reading.
    }
  }
  return out;
}

/**
 * JSON does not carry NaN or Infinity; a diverged run has them. They are written as strings
 * ("NaN") and turned back into numbers by `reviveNumbers`.
 */
export function jsonLine(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'number' && !Number.isFinite(x) ? String(x) : x));
}

export function reviveNumbers<T>(v: T): T {
  return JSON.parse(JSON.stringify(v), (_k, x: unknown) =>
    x === 'NaN' ? NaN : x === 'Infinity' ? Infinity : x === '-Infinity' ? -Infinity : x,
  ) as T;
}

export interface RunFiles {
  dir: string;
  job?: Record<string, unknown>;
  metrics: MetricsLine[];
  steps: StepLine[];
  diagnostics: DiagnosticsLine[];
  histograms: HistogramLine[];
  timing: TimingLine[];
}

export function readRunFiles(dir: string): RunFiles {
  const at = (f: string): string => path.join(dir, f);
  const jobFile = at(RUN_FILES.job);
  const read = <T>(f: string): T[] => readJsonLines<T>(at(f)).map(reviveNumbers);
  return {
    dir,
    job: fs.existsSync(jobFile) ? (JSON.parse(fs.readFileSync(jobFile, 'utf8')) as Record<string, unknown>) : undefined,
    metrics: read<MetricsLine>(RUN_FILES.metrics),
    steps: read<StepLine>(RUN_FILES.steps),
    diagnostics: read<DiagnosticsLine>(RUN_FILES.diagnostics),
    histograms: read<HistogramLine>(RUN_FILES.histograms),
    timing: read<TimingLine>(RUN_FILES.timing),
  };
}

/** Appends lines to a JSONL file in one write (lines of one call never interleave with another's). */
export function appendJsonLines(file: string, lines: readonly unknown[]): void {
  if (lines.length === 0) return;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  appendFileNamed(file, lines.map(jsonLine).join('\n') + '\n');
}
