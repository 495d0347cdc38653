import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Registry } from 'prom-client';
import { createLogger, type DestinationStream } from '../../src/observe/logger';
import type { StepPoint, StepTiming } from '../../src/observe/status-page-data';
import { eventFilesIn, readEventFile, scalarsByTag } from '../../src/observe/tensorboard-reader';
import { RunRecorder } from '../../src/record/run-recorder';
import { RUN_FILES, readRunFiles } from '../../src/record/run-files';

function memoryLog(): { destination: DestinationStream; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  return {
    destination: { write: (m: string) => void chunks.push(m) },
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

const SLOTS = [
  { name: 'dense_0/kernel', offset: 0, size: 6 },
  { name: 'dense_0/bias', offset: 6, size: 2 },
  { name: 'logits/kernel', offset: 8, size: 4 },
];

/** Two epochs of five steps on two ranks, as a training loop would tell them. */
async function recordRun(dir: string): Promise<{
  log: () => Record<string, unknown>[];
  sent: { points: StepPoint[]; timing: StepTiming }[][];
  losses: number[];
  registry: Registry;
}> {
  const mem = memoryLog();
  const log = createLogger({ job: 'rec', role: 'worker', rank: 0, destination: mem.destination });
  let now = 1_700_000_000_000;
  const sent: { points: StepPoint[]; timing: StepTiming }[][] = [[], []];
  const registry = new Registry();
  const recorders = [0, 1].map(
    (rank) =>
      new RunRecorder({
        dir: rank === 0 ? dir : path.join(dir, 'rank1-nothing'),
        rank,
        worldSize: 2,
        epochs: 4,
        log: rank === 0 ? log : undefined,
        registry: rank === 0 ? registry : undefined,
        clock: () => now,
        progressIntervalMs: 250,
        sinkIntervalMs: 1000,
        sink: { sendProgress: async (u) => void sent[rank]!.push({ points: u.points, timing: u.timing }) },
      }),
  );
  const losses: number[] = [];
  let step = 0;
  // Train loss falls, val loss rises from epoch 2 on: over-fitting after epoch 4.
  const epochLosses = [
    [1.0, 0.9],
    [0.8, 0.95],
    [0.6, 1.0],
    [0.5, 1.1],
  ];
  for (let epoch = 1; epoch <= 4; epoch++) {
    for (let i = 1; i <= 5; i++) {
      step += 1;
      now += 100;
      const loss = 2 / step;
      losses.push(loss);
      for (const [rank, r] of recorders.entries()) {
        if (r.wantsDiagnostics(i, 5)) {
          assert.equal(rank, 0, 'only rank 0 diagnoses');
          const before = Float32Array.from({ length: 12 }, (_, k) => (k + 1) / 10);
          const after = before.map((w, k) => w - 0.01 * (k % 3));
          const grads = Float32Array.from({ length: 12 }, (_, k) => (k % 2 ? 1 : -1) * 0.1 * epoch);
          r.onDiagnostics({ epoch, step, slots: SLOTS, grads, before, after });
        }
        r.onStep({
          epoch,
          step,
          stepInEpoch: i,
          stepsInEpoch: 5,
          loss,
          correct: 50,
          samples: 64,
          lr: 0.1 / epoch,
          momentum: epoch === 2 ? 0.85 + 0.01 * i : undefined,
          seconds: {
            data: 0.01,
            compute: rank === 0 ? 0.05 : 0.06,
            communication: 0.03,
            update: 0.01,
            peerWait: rank === 0 ? 0.01 : 0,
          },
        });
      }
      await new Promise((r) => setImmediate(r));
    }
    const ranks = recorders.map((r) => r.packEpochTiming());
    const summed = ranks[0]!.map((v, k) => v + (ranks[1]![k] as number));
    const [train, val] = epochLosses[epoch - 1] as [number, number];
    for (const r of recorders)
      r.onEpoch({
        epoch,
        step,
        train: { loss: train, accuracy: 0.8 },
        val: { loss: val, accuracy: 0.78 },
        samplesPerSec: 1280,
        ranks: summed,
      });
  }
  for (const r of recorders) await r.close();
  return { log: mem.lines, sent, losses, registry };
}

test('RunRecorder writes steps, diagnostics, histograms and every rank’s timing into the run directory', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-rec-'));
  const { losses } = await recordRun(dir);
  const files = readRunFiles(dir);
  assert.deepEqual(
    files.steps.map((s) => s.step),
    Array.from({ length: 20 }, (_, i) => i + 1),
  );
  assert.deepEqual(
    files.steps.map((s) => s.loss),
    losses,
  );
  assert.deepEqual(
    files.steps.slice(0, 6).map((s) => s.lr),
    [0.1, 0.1, 0.1, 0.1, 0.1, 0.05],
  );
  // 100 ms per step, 64 samples x 2 ranks each.
  assert.equal(files.steps[10]?.samplesPerSec, 1280);
  assert.deepEqual(
    files.diagnostics.map((d) => [d.epoch, d.step]),
    [
      [1, 5],
      [2, 10],
      [3, 15],
      [4, 20],
    ],
  );
  const first = files.diagnostics[0]!;
  assert.deepEqual(
    first.layers.map((l) => l.layer),
    ['dense_0', 'logits'],
  );
  assert.ok(Math.abs(first.globalGradNorm - Math.sqrt(12 * 0.01)) < 1e-6, `global norm ${first.globalGradNorm}`);
  assert.equal(files.histograms.length, 4 * 3 * 2);
  assert.deepEqual(
    files.histograms.slice(0, 2).map((h) => [h.kind, h.variable, h.histogram.count]),
    [
      ['weights', 'dense_0/kernel', 6],
      ['gradients', 'dense_0/kernel', 6],
    ],
  );
  assert.deepEqual(
    files.timing
      .filter((t) => t.epoch === 1)
      .map((t) => [t.rank, t.steps, t.samples, +t.compute.toFixed(4), +(t.peerWait ?? -1).toFixed(4)]),
    [
      [0, 5, 320, 0.25, 0.05],
      [1, 5, 320, 0.3, 0],
    ],
  );
  assert.equal(fs.existsSync(path.join(dir, 'rank1-nothing')), false, 'ranks other than 0 write no files');
});

test('the event files decode with TensorFlow’s protos, every record’s CRCs check, and the logged scalars are there', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-rec-tb-'));
  const { losses } = await recordRun(dir);
  const trainFiles = eventFilesIn(path.join(dir, RUN_FILES.tensorboard, 'train'));
  const valFiles = eventFilesIn(path.join(dir, RUN_FILES.tensorboard, 'validation'));
  assert.equal(trainFiles.length, 1);
  assert.equal(valFiles.length, 1);
  const train = readEventFile(trainFiles[0]!);
  assert.equal(train.trailingBytes, 0);
  assert.equal(train.events[0]?.fileVersion, 'brain.Event:2');
  const scalars = scalarsByTag(train.events);
  assert.deepEqual(
    scalars.get('batch/loss')?.map((p) => [p.step, p.value]),
    losses.map((l, i) => [i + 1, Math.fround(l)]),
  );
  assert.deepEqual(
    scalars
      .get('batch/learning_rate')
      ?.map((p) => p.value)
      .slice(4, 6),
    [Math.fround(0.1), Math.fround(0.05)],
  );
  // Only steps whose schedule moved the momentum (epoch 2 here) carry it.
  assert.deepEqual(
    scalars.get('batch/momentum')?.map((p) => [p.step, p.value]),
    [1, 2, 3, 4, 5].map((i) => [5 + i, Math.fround(0.85 + 0.01 * i)]),
  );
  assert.deepEqual(
    scalars.get('epoch/loss')?.map((p) => [p.step, p.value]),
    [
      [1, 1],
      [2, Math.fround(0.8)],
      [3, Math.fround(0.6)],
      [4, 0.5],
    ],
  );
  assert.equal(scalars.get('gradients/global_norm')?.length, 4);
  assert.deepEqual(
    [...scalars.keys()].filter((k) => k.startsWith('update_ratio/')),
    ['update_ratio/dense_0', 'update_ratio/logits'],
  );
  const hist = train.events.flatMap((e) =>
    e.values.filter((v) => v.tag === 'weights/dense_0/kernel').map((v) => ({ step: e.step, h: v.histogram })),
  );
  assert.deepEqual(
    hist.map((x) => x.step),
    [1, 2, 3, 4],
  );
  assert.equal(hist[0]?.h?.num, 6);
  assert.equal(
    hist[0]?.h?.buckets.reduce((a, b) => a + b, 0),
    6,
  );
  const val = scalarsByTag(readEventFile(valFiles[0]!).events);
  assert.deepEqual(
    val.get('epoch/loss')?.map((p) => [p.step, p.value]),
    [
      [1, Math.fround(0.9)],
      [2, Math.fround(0.95)],
      [3, 1],
      [4, Math.fround(1.1)],
    ],
  );
});

test('progress lines are throttled, points and timing reach the coordinator, and over-fitting is warned', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-rec-log-'));
  const { log, sent, registry } = await recordRun(dir);
  const progress = log().filter((l) => l.event === 'progress');
  // 100 ms steps, 250 ms apart at least, plus each epoch's last step: steps 1, 4, 5 of every epoch.
  assert.deepEqual(
    progress.map((p) => p.stepInEpoch),
    [1, 4, 5, 3, 5, 3, 5, 3, 5],
  );
  assert.deepEqual(
    progress.slice(0, 2).map((p) => [p.epoch, p.epochs, p.stepsInEpoch, p.rank]),
    [
      [1, 4, 5, 0],
      [1, 4, 5, 0],
    ],
  );
  assert.equal(progress[1]?.loss, (2 / 1 + 2 / 2 + 2 / 3 + 2 / 4) / 4, 'running mean loss of the epoch');
  assert.ok(Math.abs((progress[1]?.elapsedSec as number) - 0.4) < 1e-9, `elapsed ${progress[1]?.elapsedSec}`);

  assert.deepEqual(
    sent[0]!.flatMap((u) => u.points.map((p) => p.step)),
    Array.from({ length: 20 }, (_, i) => i + 1),
    'rank 0 sends every step point once',
  );
  assert.deepEqual(
    sent[1]!.flatMap((u) => u.points),
    [],
    'other ranks send only timing',
  );
  assert.equal(
    sent[1]!.reduce((n, u) => n + u.timing.steps, 0),
    20,
  );
  assert.ok(Math.abs(sent[1]!.reduce((s, u) => s + u.timing.computeSec, 0) - 1.2) < 1e-9);
  assert.equal(sent[0]![0]!.points[0]!.accuracy, 50 / 64);

  const warnings = log().filter((l) => l.event === 'training-warning');
  assert.deepEqual(
    warnings.map((w) => w.kind),
    ['overfitting', 'overfitting'],
  );
  assert.match(
    String(warnings[0]?.msg),
    /from epoch 1 to 3 validation loss rose 0\.9000 -> 1\.000 while training loss fell 1\.000 -> 0\.6000/,
  );
  const body = await registry.metrics();
  assert.match(body, /ringtrain_training_warnings_total\{rank="0",kind="overfitting"\} 2/);
  // Epoch 4's gradient: 12 values of +-0.4.
  const global = Number(/ringtrain_gradient_norm\{rank="0",layer="global"\} (\S+)/.exec(body)?.[1]);
  assert.ok(Math.abs(global - 0.4 * Math.sqrt(12)) < 1e-6, `global norm gauge ${global}`);
});

test('with logEverySteps, step points go to steps.jsonl, TensorBoard and the live page every N steps and at each epoch end', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-rec-every-'));
  const sent: StepPoint[] = [];
  let now = 1_700_000_000_000;
  const r = new RunRecorder({
    dir,
    rank: 0,
    worldSize: 1,
    epochs: 2,
    clock: () => now,
    logEverySteps: 3,
    sinkIntervalMs: 0,
    sink: { sendProgress: async (u) => void sent.push(...u.points) },
  });
  const seconds = { data: 0.001, compute: 0.002, communication: 0, update: 0.001 };
  for (let step = 1; step <= 10; step++) {
    now += 10;
    // Two epochs of 5 steps: kept are steps 3 and 6, 9 (multiples of 3) and 5, 10 (epoch ends).
    r.onStep({
      epoch: step <= 5 ? 1 : 2,
      step,
      stepInEpoch: ((step - 1) % 5) + 1,
      stepsInEpoch: 5,
      loss: 1 / step,
      samples: 64,
      lr: 0.1,
      seconds,
    });
  }
  await r.close();
  const kept = [3, 5, 6, 9, 10];
  assert.deepEqual(
    readRunFiles(dir).steps.map((s) => [s.step, s.loss]),
    kept.map((s) => [s, 1 / s]),
  );
  const tb = scalarsByTag(readEventFile(eventFilesIn(path.join(dir, RUN_FILES.tensorboard, 'train'))[0]!).events);
  assert.deepEqual(
    tb.get('batch/loss')?.map((p) => p.step),
    kept,
  );
  assert.deepEqual(
    sent.map((p) => p.step),
    kept,
  );
  fs.rmSync(dir, { recursive: true, force: true });
});
