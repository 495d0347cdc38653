/**
 * The report page: one HTML file with every plot embedded as a data: URI, so it can be mailed,
 * attached to a ticket or opened from a laptop without the PNGs beside it (they are written too).
 * No script, no external resource.
 */
import type { DiagnosticWarning, LayerStats } from '../train';
import type { TimingRow } from './report-data';
import type { MetricsLine } from '../record';

export interface ReportFigure {
  file: string;
  png: Buffer;
  title: string;
  caption: string;
  section: 'curves' | 'evaluation' | 'diagnostics' | 'histograms' | 'model';
}

export interface ReportPage {
  job: string;
  runDir: string;
  generatedAt: Date;
  spec?: Record<string, unknown>;
  metrics: MetricsLine[];
  warnings: DiagnosticWarning[];
  /** The saved model's evaluation (report-evaluation.ts), as HTML. */
  evaluation?: string;
  lastLayers: LayerStats[];
  timing: TimingRow[];
  timingSource: string;
  figures: ReportFigure[];
  notes: string[];
}

export function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );
}

const pct = (x: number | undefined): string =>
  x === undefined || !Number.isFinite(x) ? '-' : `${(100 * x).toFixed(2)}%`;
const num = (x: number | undefined, digits = 4): string =>
  x === undefined || x === null || !Number.isFinite(x) ? '-' : x.toFixed(digits);
const sci = (x: number): string => (Number.isFinite(x) ? x.toExponential(2) : String(x));

function finalTable(metrics: readonly MetricsLine[]): string {
  const train = metrics.filter((m) => m.split === 'train');
  const val = metrics.filter((m) => m.split === 'val');
  const lastTrain = train.at(-1);
  const lastVal = val.at(-1);
  if (lastTrain === undefined && lastVal === undefined)
    return '<p>No epoch finished: metrics.jsonl is empty or missing.</p>';
  const regression = val.some((m) => typeof m.mse === 'number') && !val.some((m) => typeof m.accuracy === 'number');
  const best = regression
    ? val.reduce<MetricsLine | undefined>(
        (b, m) => (b === undefined || (m.mse ?? Infinity) < (b.mse ?? Infinity) ? m : b),
        undefined,
      )
    : val.reduce<MetricsLine | undefined>((b, m) => (b === undefined || m.accuracy > b.accuracy ? m : b), undefined);
  const meanSps = train.length > 0 ? train.reduce((s, m) => s + m.samplesPerSec, 0) / train.length : NaN;
  const skipped = train.reduce((s, m) => s + (m.skippedSteps ?? 0), 0);
  const quality = (m: MetricsLine | undefined): string =>
    regression ? `MSE ${num(m?.mse)}, MAE ${num(m?.mae)}, R^2 ${num(m?.r2)}` : pct(m?.accuracy);
  const head = regression
    ? '<th>train MSE</th><th>val loss</th><th>val MSE</th><th>val MAE</th><th>val R^2</th>'
    : '<th>train acc</th><th>val loss</th><th>val acc</th>';
  const cells = (t: MetricsLine, v: MetricsLine | undefined): string =>
    regression
      ? `<td>${num(t.mse)}</td><td>${num(v?.loss)}</td><td>${num(v?.mse)}</td><td>${num(v?.mae)}</td><td>${num(v?.r2)}</td>`
      : `<td>${pct(t.accuracy)}</td><td>${num(v?.loss)}</td><td>${pct(v?.accuracy)}</td>`;
  return `<table class="kv">
<tr><th>epochs finished</th><td>${Math.max(lastTrain?.epoch ?? 0, lastVal?.epoch ?? 0)}</td></tr>
<tr><th>final train loss</th><td>${num(lastTrain?.loss)}${regression ? '' : ` / ${pct(lastTrain?.accuracy)}`}</td></tr>
<tr><th>final validation loss / ${regression ? 'errors' : 'accuracy'}</th><td>${num(lastVal?.loss)} / ${quality(lastVal)}</td></tr>
<tr><th>best validation ${regression ? 'MSE' : 'accuracy'}</th><td>${regression ? num(best?.mse) : pct(best?.accuracy)}${best ? ` (epoch ${best.epoch})` : ''}</td></tr>
<tr><th>steps skipped (loss or gradient not finite)</th><td>${skipped}</td></tr>
<tr><th>mean training throughput</th><td>${Number.isFinite(meanSps) ? `${Math.round(meanSps).toLocaleString('en-US')} samples/s` : '-'}</td></tr>
</table>
<table><tr><th>epoch</th><th>train loss</th>${head}<th>skipped steps</th><th>max grad norm</th><th>samples/s</th></tr>
${train
  .map((t) => {
    const v = val.find((x) => x.epoch === t.epoch);
    return `<tr><td>${t.epoch}</td><td>${num(t.loss)}</td>${cells(t, v)}<td>${t.skippedSteps ?? '-'}</td><td>${typeof t.maxGradNorm === 'number' ? sci(t.maxGradNorm) : '-'}</td><td>${Math.round(t.samplesPerSec).toLocaleString('en-US')}</td></tr>`;
  })
  .join('\n')}
</table>`;
}

function timingTable(rows: readonly TimingRow[], source: string): string {
  if (rows.length === 0) return '<p>No per-rank timing was recorded for this run.</p>';
  const body = rows
    .map((r) => {
      const total = r.data + r.compute + r.communication + r.update;
      const share = (x: number): string => (total > 0 ? `${((100 * x) / total).toFixed(0)}%` : '-');
      const perStep = (x: number): string => (r.steps > 0 ? ((1000 * x) / r.steps).toFixed(2) : '-');
      return `<tr><td>${r.rank}</td><td>${r.epochs}</td><td>${r.steps}</td><td>${r.samples > 0 ? r.samples.toLocaleString('en-US') : '-'}</td>
<td>${r.data.toFixed(2)} (${share(r.data)})</td><td>${r.compute.toFixed(2)} (${share(r.compute)})</td><td>${r.communication.toFixed(2)} (${share(r.communication)})</td><td>${r.peerWait === undefined ? '-' : `${r.peerWait.toFixed(2)} (${share(r.peerWait)})`}</td><td>${r.update.toFixed(2)} (${share(r.update)})</td>
<td>${total.toFixed(2)}</td><td>${perStep(total)}</td></tr>`;
    })
    .join('\n');
  return `<p class="note">Seconds over the recorded epochs (share of the step time); source: ${escapeHtml(source)}. In synchronous data parallelism a slow rank shows as more compute and its peers as more communication; peer wait is the part of communication spent waiting for a slower rank's first message, the rest is the exchange itself.</p>
<table><tr><th>rank</th><th>epochs</th><th>steps</th><th>samples</th><th>data s</th><th>compute s</th><th>communication s</th><th>of which peer wait s</th><th>update s</th><th>total s</th><th>ms/step</th></tr>
${body}</table>`;
}

function layerTable(layers: readonly LayerStats[]): string {
  if (layers.length === 0) return '';
  return `<table><tr><th class="l">layer</th><th>gradient norm</th><th>weight norm</th><th>update norm</th><th>update / weight</th></tr>
${layers.map((l) => `<tr><td class="l">${escapeHtml(l.layer)}</td><td>${sci(l.gradNorm)}</td><td>${sci(l.weightNorm)}</td><td>${sci(l.updateNorm)}</td><td>${sci(l.updateRatio)}</td></tr>`).join('\n')}
</table><p class="note">Last recorded step. An update/weight ratio near 1e-3 is the classic healthy value; far below, the layer barely learns; far above, the learning rate is too high for it.</p>`;
}

function figures(list: readonly ReportFigure[], section: ReportFigure['section']): string {
  return list
    .filter((f) => f.section === section)
    .map(
      (f) =>
        `<figure><img alt="${escapeHtml(f.title)}" src="data:image/png;base64,${f.png.toString('base64')}"><figcaption><b>${escapeHtml(f.title)}</b> (${escapeHtml(f.file)}). ${escapeHtml(f.caption)}</figcaption></figure>`,
    )
    .join('\n');
}

export function renderReportHtml(p: ReportPage): string {
  const warnings =
    p.warnings.length === 0
      ? '<p>None: no vanishing or exploding gradients, no skipped steps, no over-fitting detected.</p>'
      : `<ul class="warn">${p.warnings.map((w) => `<li><b>${escapeHtml(w.kind)}</b>: ${escapeHtml(w.message)}</li>`).join('\n')}</ul>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ringtrain report: ${escapeHtml(p.job)}</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
h1{font-size:24px}h2{font-size:19px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}
table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #ddd;padding:4px 10px;text-align:right}th{background:#f4f4f4}
.l{text-align:left}table.kv th{text-align:left}figure{margin:16px 0}img{max-width:100%;border:1px solid #eee}
figcaption{color:#555;font-size:13px}.note{color:#555;font-size:13px}.warn li{color:#a33}pre{background:#f6f6f6;padding:10px;overflow:auto;font-size:12px}
</style></head><body>
<h1>ringtrain report: ${escapeHtml(p.job)}</h1>
<p class="note">Run directory ${escapeHtml(p.runDir)}; generated ${escapeHtml(p.generatedAt.toISOString())}.</p>
<h2>Final metrics</h2>
${finalTable(p.metrics)}
<h2>Warnings</h2>
${warnings}
<h2>Curves</h2>
${figures(p.figures, 'curves')}
<h2>Evaluation of the saved model</h2>
${p.evaluation ?? ''}
${figures(p.figures, 'evaluation')}
<h2>Per-rank timing</h2>
${timingTable(p.timing, p.timingSource)}
<h2>Gradients and updates</h2>
${figures(p.figures, 'diagnostics') || '<p>No diagnostics were recorded for this run (diagnostics.jsonl is missing).</p>'}
${layerTable(p.lastLayers)}
<h2>Weight and gradient histograms</h2>
${figures(p.figures, 'histograms') || '<p>No histograms were recorded for this run (histograms.jsonl is missing).</p>'}
<h2>Model</h2>
${figures(p.figures, 'model') || '<p>No model views: the saved model could not be read.</p>'}
${p.notes.map((n) => `<p class="note">${escapeHtml(n)}</p>`).join('\n')}
<h2>Job spec</h2>
<pre>${escapeHtml(JSON.stringify(p.spec ?? {}, null, 2))}</pre>
</body></html>
`;
}
