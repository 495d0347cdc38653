/**
 * Turns a run directory's files into the series and tables the report draws: duplicates from a
 * resumed run are dropped (the last record of an epoch or step wins), step-level series are put
 * on the epoch axis (step k of n in epoch e sits at e - 1 + k/n), and the per-rank timing comes
 * from timing.jsonl or, for runs recorded without it, from the workers' epoch log lines.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  RUN_FILES,
  type DiagnosticsLine,
  type HistogramLine,
  type MetricsLine,
  type RankTiming,
  type RunFiles,
  type StepLine,
  type TimingLine,
} from '../record';

/** Keeps the last item of each key, in order of first appearance of the key. */
export function lastByKey<T>(items: readonly T[], key: (t: T) => string): T[] {
  const map = new Map<string, T>();
  for (const it of items) {
    const k = key(it);
    map.delete(k);
    map.set(k, it);
  }
  return [...map.values()];
}

export interface CleanRun {
  metrics: MetricsLine[];
  steps: StepLine[];
  diagnostics: DiagnosticsLine[];
  histograms: HistogramLine[];
  timing: TimingLine[];
}

export function cleanRun(f: RunFiles): CleanRun {
  return {
    metrics: lastByKey(f.metrics, (m) => `${m.epoch}/${m.split}`).sort((a, b) => a.epoch - b.epoch),
    steps: lastByKey(f.steps, (s) => String(s.step)).sort((a, b) => a.step - b.step),
    diagnostics: lastByKey(f.diagnostics, (d) => String(d.epoch)).sort((a, b) => a.epoch - b.epoch),
    histograms: lastByKey(f.histograms, (h) => `${h.epoch}/${h.kind}/${h.variable}`).sort((a, b) => a.epoch - b.epoch),
    timing: lastByKey(f.timing, (t) => `${t.epoch}/${t.rank}`),
  };
}

/** Steps on the epoch axis: step i of n in epoch e is at (e - 1) + (i + 1) / n. */
export function stepsOnEpochAxis(steps: readonly StepLine[]): { x: number; s: StepLine }[] {
  const byEpoch = new Map<number, StepLine[]>();
  for (const s of steps) {
    const list = byEpoch.get(s.epoch) ?? [];
    list.push(s);
    byEpoch.set(s.epoch, list);
  }
  return [...byEpoch.entries()].flatMap(([epoch, list]) =>
    list.map((s, i) => ({ x: epoch - 1 + (i + 1) / list.length, s })),
  );
}

export interface TimingRow extends RankTiming {
  epochs: number;
}

/** Per-rank totals over the recorded epochs. */
export function timingTable(lines: readonly TimingLine[]): TimingRow[] {
  const rows = new Map<number, TimingRow>();
  for (const t of lines) {
    const r = rows.get(t.rank) ?? {
      rank: t.rank,
      epochs: 0,
      steps: 0,
      samples: 0,
      data: 0,
      compute: 0,
      communication: 0,
      update: 0,
    };
    r.epochs += 1;
    r.steps += t.steps;
    r.samples += t.samples;
    r.data += t.data;
    r.compute += t.compute;
    r.communication += t.communication;
    r.update += t.update;
    // Older runs did not record it: the table then shows none rather than a false 0.
    if (t.peerWait !== undefined) r.peerWait = (r.peerWait ?? 0) + t.peerWait;
    rows.set(t.rank, r);
  }
  return [...rows.values()].sort((a, b) => a.rank - b.rank);
}

interface EpochLogLine {
  event?: string;
  rank?: number;
  epoch?: number;
  step?: number;
  time?: { data: number; compute: number; communication: number; update: number; peerWait?: number };
}

/**
 * Timing from the `epoch` lines of logs/*.log, for runs without timing.jsonl. Only ranks that
 * log epoch lines appear (rank 0 in the stock worker). Steps per epoch come from the step
 * counter's increase.
 */
export function timingFromLogs(runDir: string): TimingLine[] {
  const dir = path.join(runDir, RUN_FILES.logs);
  if (!fs.existsSync(dir)) return [];
  const out: TimingLine[] = [];
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.log'))) {
    let lastStep = 0;
    for (const line of fs.readFileSync(path.join(dir, file), 'utf8').split('\n')) {
      if (!line.includes('"event":"epoch"')) continue;
      let r: EpochLogLine;
      try {
        r = JSON.parse(line) as EpochLogLine;
      } catch {
        continue;
      }
      if (r.event !== 'epoch' || r.rank === undefined || r.epoch === undefined || r.time === undefined) continue;
      const step = r.step ?? lastStep;
      out.push({ epoch: r.epoch, rank: r.rank, steps: step - lastStep, samples: 0, ...r.time });
      lastStep = step;
    }
  }
  return lastByKey(out, (t) => `${t.epoch}/${t.rank}`);
}
