import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { selectBackend } from '../../src/compute';
import { isRingtrainError } from '../../src/core/errors';
import { DEFAULT_JOB, type JobSpec } from '../../src/config';
import { buildModel, saveModelToDir } from '../../src/train';
import { decodePng } from '../../src/report/png';
import { RunRecorder } from '../../src/record/run-recorder';
import { appendJsonLines } from '../../src/record/run-files';
import { writeReport } from '../../src/report/write-report';

const SLOTS = [
  { name: 'conv_0/kernel', offset: 0, size: 36 },
  { name: 'conv_0/bias', offset: 36, size: 4 },
  { name: 'logits/kernel', offset: 40, size: 20 },
];

/** A run directory as a 2-rank run leaves it: job.json, metrics.jsonl, recorder files, model/. */
async function fakeRun(kind: 'cnn' | 'mlp'): Promise<{ dir: string; spec: JobSpec }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ringtrain-report-${kind}-`));
  const spec: JobSpec = {
    ...DEFAULT_JOB,
    name: `report-${kind}`,
    model: { ...DEFAULT_JOB.model, kind, hidden: [16], channels: [4] },
  };
  fs.writeFileSync(path.join(dir, 'job.json'), JSON.stringify(spec));
  let now = 1_700_000_000_000;
  const recorders = [0, 1].map((rank) => new RunRecorder({ dir, rank, worldSize: 2, epochs: 4, clock: () => now }));
  // Val loss rises while train loss falls from epoch 2: over-fitting.
  const losses = [
    [1.2, 0.9],
    [0.8, 0.7],
    [0.6, 0.75],
    [0.5, 0.8],
  ] as const;
  let step = 0;
  for (let epoch = 1; epoch <= 4; epoch++) {
    for (let i = 1; i <= 10; i++) {
      step += 1;
      now += 50;
      if (recorders[0]!.wantsDiagnostics(i, 10)) {
        const before = Float32Array.from({ length: 60 }, (_, k) => Math.cos(k) * 0.3);
        recorders[0]!.onDiagnostics({
          epoch,
          step,
          slots: SLOTS,
          grads: before.map((w) => w * 0.01 * epoch),
          before,
          after: before.map((w) => w * 0.999),
        });
      }
      for (const [rank, r] of recorders.entries())
        r.onStep({
          epoch,
          step,
          stepInEpoch: i,
          stepsInEpoch: 10,
          loss: 2 / step,
          samples: 32,
          lr: 0.01,
          seconds: {
            data: 0.001,
            compute: 0.02 + rank * 0.01,
            communication: 0.02,
            update: 0.003,
            peerWait: rank === 0 ? 0.01 : 0,
          },
        });
    }
    const [a, b] = recorders.map((r) => r.packEpochTiming()) as [Float32Array, Float32Array];
    const [train, val] = losses[epoch - 1]!;
    for (const r of recorders)
      r.onEpoch({
        epoch,
        step,
        train: { loss: train, accuracy: 0.7 + epoch / 20 },
        val: { loss: val, accuracy: 0.72 + epoch / 25 },
        samplesPerSec: 1200,
        ranks: a.map((v, k) => v + (b[k] as number)),
      });
    appendJsonLines(path.join(dir, 'metrics.jsonl'), [
      { epoch, split: 'train', loss: train, accuracy: 0.7 + epoch / 20, samplesPerSec: 1200 },
      { epoch, split: 'val', loss: val, accuracy: 0.72 + epoch / 25, samplesPerSec: 5000 },
    ]);
  }
  // A resumed run repeats epoch 4: the report keeps one line per epoch (the last).
  appendJsonLines(path.join(dir, 'metrics.jsonl'), [
    { epoch: 4, split: 'val', loss: 0.8, accuracy: 0.88, samplesPerSec: 5000 },
  ]);
  for (const r of recorders) await r.close();
  await selectBackend('wasm');
  const model = buildModel(spec.model, [784], 10, spec.seed);
  await saveModelToDir(model, path.join(dir, 'model'));
  model.dispose();
  return { dir, spec };
}

function pngSize(file: string): [number, number] {
  const p = decodePng(fs.readFileSync(file));
  return [p.width, p.height];
}

test('a report of a convolutional run has the curves, diagnostics, histograms, filters and feature maps, all embedded in the HTML', async () => {
  const { dir } = await fakeRun('cnn');
  const r = await writeReport(dir, { now: new Date('2026-01-02T03:04:05Z') });
  assert.equal(r.dir, path.join(dir, 'report'));
  const names = r.pngs.map((p) => path.basename(p)).sort();
  assert.deepEqual(names, [
    'accuracy.png',
    'feature-maps.png',
    'filters.png',
    'gradient-norms.png',
    'histogram-conv_0_bias.png',
    'histogram-conv_0_kernel.png',
    'histogram-logits_kernel.png',
    'learning-rate.png',
    'loss.png',
    'throughput.png',
    'update-ratios.png',
  ]);
  assert.deepEqual(pngSize(path.join(r.dir, 'loss.png')), [760, 420]);
  // 4 filters of 3x3 at 14 px, one row; feature maps: input + 4 maps.
  const [fw] = pngSize(path.join(r.dir, 'filters.png'));
  assert.equal(fw, 360, 'the grid is at least wide enough for its title');
  const html = fs.readFileSync(r.html, 'utf8');
  assert.equal(html.match(/src="data:image\/png;base64,/g)?.length, r.pngs.length);
  for (const png of r.pngs) {
    const embedded = fs.readFileSync(png).toString('base64');
    assert.ok(html.includes(embedded), `${path.basename(png)} is embedded byte for byte`);
  }
  assert.ok(html.includes('<h1>ringtrain report: report-cnn</h1>'));
  assert.ok(html.includes('generated 2026-01-02T03:04:05.000Z'));
  // The epoch table has one row per epoch even though epoch 4's val line was written twice.
  assert.equal(html.match(/<tr><td>\d+<\/td><td>[\d.]+<\/td><td>[\d.]+%<\/td>/g)?.length, 4);
  assert.match(html, /final validation loss \/ accuracy<\/th><td>0\.8000 \/ 88\.00%/);
  // Per-rank timing: 40 steps each; rank 1 computes 10 ms more per step, which rank 0 waits for.
  assert.match(
    html,
    /<tr><td>0<\/td><td>4<\/td><td>40<\/td><td>1,280<\/td>\s*<td>0\.04 \(\d+%\)<\/td><td>0\.80 \(\d+%\)<\/td><td>0\.80 \(\d+%\)<\/td><td>0\.40 \(\d+%\)<\/td>/,
  );
  assert.match(
    html,
    /<tr><td>1<\/td><td>4<\/td><td>40<\/td><td>1,280<\/td>\s*<td>0\.04 \(\d+%\)<\/td><td>1\.20 \(\d+%\)<\/td><td>0\.80 \(\d+%\)<\/td><td>0\.00 \(0%\)<\/td>/,
  );
  assert.ok(html.includes('<th>communication s</th><th>of which peer wait s</th><th>update s</th>'));
  assert.deepEqual(
    r.warnings.map((w) => w.kind),
    ['overfitting'],
  );
  assert.match(
    html,
    /<li><b>overfitting<\/b>: over-fitting: from epoch 2 to 4 validation loss rose 0\.7000 -&gt; 0\.8000/,
  );
  assert.ok(html.includes('&quot;kind&quot;: &quot;cnn&quot;'), 'the job spec is shown, escaped');
});

test('a report of an MLP run draws the first layer’s weights as images, and a bare run directory still reports', async () => {
  const { dir } = await fakeRun('mlp');
  for (const f of ['steps.jsonl', 'diagnostics.jsonl', 'histograms.jsonl', 'timing.jsonl'])
    fs.rmSync(path.join(dir, f));
  fs.mkdirSync(path.join(dir, 'logs'));
  // What the stock worker logs each epoch: the per-rank table falls back to it.
  fs.writeFileSync(
    path.join(dir, 'logs', 'rank 0.log'),
    [
      '{"level":30,"event":"epoch","rank":0,"epoch":1,"step":10,"time":{"data":0.5,"compute":2,"communication":1,"update":0.5}}',
      'not json',
      '',
    ].join('\n'),
  );
  const out = path.join(dir, 'elsewhere');
  const r = await writeReport(dir, { outDir: out });
  assert.equal(r.dir, out);
  assert.deepEqual(r.pngs.map((p) => path.basename(p)).sort(), [
    'accuracy.png',
    'first-layer-weights.png',
    'learning-rate.png',
    'loss.png',
    'throughput.png',
  ]);
  // 16 hidden units of 28x28 at 3 px, 8 per row.
  assert.deepEqual(pngSize(path.join(out, 'first-layer-weights.png')), [
    8 * (84 + 10) + 10,
    40 + 2 * (84 + 20 + 10) + 10,
  ]);
  const html = fs.readFileSync(r.html, 'utf8');
  assert.match(html, /source: the workers&#39; epoch log lines/);
  assert.match(
    html,
    /<tr><td>0<\/td><td>1<\/td><td>10<\/td><td>-<\/td>\s*<td>0\.50 \(13%\)<\/td><td>2\.00 \(50%\)<\/td><td>1\.00 \(25%\)<\/td><td>-<\/td><td>0\.50 \(13%\)<\/td>/,
  );
  assert.ok(html.includes('No diagnostics were recorded for this run'));
  assert.ok(r.notes.some((n) => n.startsWith('No step-level record')));
});

test('a directory that is not a run is refused with what to pass instead', async () => {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-not-a-run-'));
  await assert.rejects(
    writeReport(empty),
    (e: unknown) =>
      isRingtrainError(e) && e.code === 'DATA_INVALID' && e.message.includes('has neither metrics.jsonl nor job.json'),
  );
  await assert.rejects(writeReport(path.join(empty, 'missing')), /does not exist: pass the --out directory/);
});
