import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { DEFAULT_JOB, type JobSpec } from '../../src/config';
import { trainingFingerprint } from '../../src/config/load';
import { startCoordinator } from '../../src/coordinator/run-coordinator';
import { createLogger } from '../../src/observe/logger';
import { RunRecorder } from '../../src/record/run-recorder';
import { CoordinatorClient } from '../../src/worker/coordinator-client';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];

function spec(): JobSpec {
  return {
    ...DEFAULT_JOB,
    name: 'status-page-test',
    cluster: { ...DEFAULT_JOB.cluster, worldSize: 2, joinTimeoutSec: 10, connectTimeoutSec: 5 },
    observe: { ...DEFAULT_JOB.observe, metricsHost: '127.0.0.1', metricsPort: 0 },
  };
}

interface Chart {
  points: number;
  box: number[];
  x0: number;
  x1: number;
  y0: number;
  y1: number;
  /** Vertices of each series mapped back to data values. */
  series: Record<string, [number, number][]>;
}

/** Reads a chart's polylines and maps every vertex back through the axes the page drew. */
async function readChart(page: Page, name: string): Promise<Chart> {
  return page.$eval(`svg[data-chart="${name}"]`, (svg) => {
    const num = (k: string): number => Number(svg.getAttribute(`data-${k}`));
    const box = (svg.getAttribute('data-box') ?? '').split(',').map(Number);
    const [bx, by, bw, bh] = box as [number, number, number, number];
    const x0 = num('x0');
    const x1 = num('x1');
    const y0 = num('y0');
    const y1 = num('y1');
    const series: Record<string, [number, number][]> = {};
    for (const line of Array.from(svg.querySelectorAll('polyline'))) {
      series[line.getAttribute('data-series') ?? ''] = (line.getAttribute('points') ?? '')
        .trim()
        .split(/\s+/)
        .map((p) => p.split(',').map(Number) as [number, number])
        .map(([px, py]) => [x0 + ((px - bx) / bw) * (x1 - x0), y0 + ((by + bh - py) / bh) * (y1 - y0)]);
    }
    return { points: num('points'), box, x0, x1, y0, y1, series };
  });
}

function close(actual: number, expected: number, span: number, what: string): void {
  // Vertices are written with 2 decimals on a ~200-400 px axis: well under 0.1% of the span.
  assert.ok(Math.abs(actual - expected) <= span * 1e-3, `${what}: page shows ${actual}, run produced ${expected}`);
}

test(
  'the status page shows the live curves of a run and every rank in the workers table',
  { timeout: 90_000 },
  async (t) => {
    if (!fs.existsSync(CHROMIUM)) {
      t.skip(`${CHROMIUM} is missing: apt-get install chromium`);
      return;
    }
    const s = spec();
    const log = createLogger({ job: s.name, role: 'coordinator', level: 'silent' });
    // The coordinator lingers after the job ends, so the page can still show the verdict.
    const coord = await startCoordinator({ spec: s, host: '127.0.0.1', port: 0, log, lingerMs: 2_000 });
    const address = `127.0.0.1:${coord.grpcPort}`;
    const clients = [new CoordinatorClient(address, s.name, 'w-zero'), new CoordinatorClient(address, s.name, 'w-one')];
    const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-chromium-'));
    let browser: BrowserContext | undefined;
    const recorders: RunRecorder[] = [];
    try {
      const hash = trainingFingerprint(s);
      const joined = await Promise.all(
        clients.map((c, rank) =>
          c.join(
            { address: `127.0.0.1:${45100 + rank}`, rankHint: rank, configHash: hash, metricsUrl: '' },
            5_000,
            10_000,
          ),
        ),
      );
      assert.deepEqual(
        joined.map((j) => j.rank),
        [0, 1],
      );
      const generation = joined[0]!.generation;

      // A short run of 3 epochs x 20 steps, told to two RunRecorders as a training loop would.
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-status-run-'));
      let nowMs = 1_700_000_000_000;
      for (const [rank, client] of clients.entries()) {
        recorders.push(
          new RunRecorder({
            dir,
            rank,
            worldSize: 2,
            epochs: 3,
            clock: () => nowMs,
            sinkIntervalMs: 500,
            sink: { sendProgress: (u) => client.reportProgress(generation, u) },
          }),
        );
      }
      // A fresh profile directory per run: nothing from another session leaks in.
      browser = await chromium.launchPersistentContext(userDataDir, {
        executablePath: CHROMIUM,
        args: CHROMIUM_ARGS,
        viewport: { width: 1280, height: 1000 },
      });
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`http://127.0.0.1:${coord.metricsPort}/?interval=200`);

      const stepsPerEpoch = 20;
      const produced: { step: number; loss: number; lr: number }[] = [];
      const epochs: { epoch: number; step: number; train: number; val: number; trainAcc: number; valAcc: number }[] =
        [];
      let step = 0;
      for (let epoch = 1; epoch <= 3; epoch++) {
        for (let i = 1; i <= stepsPerEpoch; i++) {
          step += 1;
          nowMs += 100;
          const loss = 2.3 * Math.exp(-step / 25) + 0.05 * Math.sin(step);
          const lr = 0.1 * 0.5 ** (epoch - 1);
          produced.push({ step, loss, lr });
          for (const [rank, r] of recorders.entries()) {
            // Rank 1 computes three times slower: the straggler.
            const compute = rank === 1 ? 0.06 : 0.02;
            r.onStep({
              epoch,
              step,
              stepInEpoch: i,
              stepsInEpoch: stepsPerEpoch,
              loss,
              correct: 40 + epoch * 5,
              samples: 64,
              lr,
              seconds: {
                data: 0.004,
                compute,
                communication: 0.07 - compute,
                update: 0.002,
                peerWait: rank === 0 ? 0.04 : 0.001,
              },
            });
          }
          // Cumulative busy seconds (data + compute + update): the coordinator names stragglers from them.
          await clients[0]!.heartbeat(generation, step, epoch - 1, step * 0.026, step * 0.05);
          await clients[1]!.heartbeat(generation, step, epoch - 1, step * 0.066, step * 0.01);
          await new Promise((r) => setTimeout(r, 10));
        }
        const e = {
          epoch,
          step,
          train: produced.at(-1)!.loss + 0.1,
          val: produced.at(-1)!.loss + 0.15,
          trainAcc: 0.7 + 0.08 * epoch,
          valAcc: 0.68 + 0.08 * epoch,
        };
        epochs.push(e);
        for (const r of recorders) r.flush();
        await clients[0]!.report(generation, step, step * 128, [
          {
            epoch,
            split: 'train',
            loss: e.train,
            accuracy: e.trainAcc,
            samplesPerSec: 1800,
            samples: stepsPerEpoch * 128,
          },
          { epoch, split: 'val', loss: e.val, accuracy: e.valAcc, samplesPerSec: 0, samples: 1000 },
        ]);
        if (epoch === 1) {
          // Mid-run: the page already shows the first epoch and nothing beyond it.
          await page.waitForFunction(
            () => document.querySelector('svg[data-chart="loss"] polyline[data-series="val"]') !== null,
            undefined,
            { timeout: 10_000 },
          );
          const early = await readChart(page, 'loss');
          assert.equal(early.series['train-step']?.length, stepsPerEpoch);
          assert.equal(early.series.val?.length, 1);
        }
      }
      for (const r of recorders) await r.close();

      const expectedPoints = produced.length + 2 * epochs.length;
      await page.waitForFunction(
        (n) => document.querySelector('svg[data-chart="loss"]')?.getAttribute('data-points') === String(n),
        expectedPoints,
        { timeout: 10_000 },
      );
      const loss = await readChart(page, 'loss');
      const lossSpan = loss.y1 - loss.y0;
      assert.equal(loss.series['train-step']?.length, produced.length);
      loss.series['train-step']!.forEach(([x, y], i) => {
        assert.equal(Math.round(x), produced[i]!.step);
        close(y, produced[i]!.loss, lossSpan, `loss at step ${produced[i]!.step}`);
      });
      assert.deepEqual(
        loss.series.train?.map(([x]) => Math.round(x)),
        epochs.map((e) => e.step),
        'epoch results sit at their last step',
      );
      loss.series.train!.forEach(([, y], i) => close(y, epochs[i]!.train, lossSpan, `train loss of epoch ${i + 1}`));
      loss.series.val!.forEach(([, y], i) => close(y, epochs[i]!.val, lossSpan, `val loss of epoch ${i + 1}`));

      const acc = await readChart(page, 'accuracy');
      acc.series.val!.forEach(([, y], i) =>
        close(y, epochs[i]!.valAcc, acc.y1 - acc.y0, `val accuracy of epoch ${i + 1}`),
      );
      // Running accuracy of rank 0's batches: (40 + 5 x epoch) of 64 per step.
      acc.series['train-step']!.forEach(([x, y]) =>
        close(
          y,
          (40 + 5 * Math.ceil(Math.round(x) / stepsPerEpoch)) / 64,
          acc.y1 - acc.y0,
          `running accuracy at step ${Math.round(x)}`,
        ),
      );
      const lr = await readChart(page, 'lr');
      assert.deepEqual(
        lr.series.lr?.map(([x, y]) => [Math.round(x), +y.toFixed(4)]),
        produced.map((p) => [p.step, +p.lr.toFixed(4)]),
      );
      const throughput = await readChart(page, 'throughput');
      // 100 ms per step (the injected clock) x 64 samples x 2 ranks.
      for (const [x, y] of throughput.series.throughput!.slice(1))
        close(y, 1280, throughput.y1 - throughput.y0, `samples/s at step ${Math.round(x)}`);

      const rows = await page.$$eval('#workers tbody tr', (trs) =>
        trs.map((tr) => Array.from(tr.querySelectorAll('td')).map((td) => td.textContent ?? '')),
      );
      assert.deepEqual(
        rows.map((r) => [r[0], r[1], r[2]]),
        [
          ['0', 'w-zero', '127.0.0.1:45100'],
          ['1', 'w-one', '127.0.0.1:45101'],
        ],
      );
      assert.deepEqual(
        rows.map((r) => r[5]),
        [String(step), String(step)],
      );
      // data, compute, comm, peer wait, update in ms per step: rank 0 waits 40 ms a step for rank 1.
      assert.deepEqual(
        rows.map((r) => r.slice(6, 11)),
        [
          ['4.0', '20.0', '50.0', '40.0', '2.0'],
          ['4.0', '60.0', '10.0', '1.0', '2.0'],
        ],
      );
      assert.deepEqual(
        rows.map((r) => r[11]),
        ['', 'straggler'],
      );
      assert.equal(await page.textContent('#state'), 'running');
      assert.equal(await page.textContent('#job'), 'status-page-test');
      assert.deepEqual(errors, []);
      if (process.env.RINGTRAIN_SCREENSHOT_DIR)
        await page.screenshot({
          path: path.join(process.env.RINGTRAIN_SCREENSHOT_DIR, 'status-page.png'),
          fullPage: true,
        });

      await clients[0]!.finish(true, '');
      await clients[1]!.finish(true, '');
      await page.waitForFunction(() => document.getElementById('state')?.textContent === 'done', undefined, {
        timeout: 10_000,
      });
    } finally {
      for (const r of recorders) await r.close();
      await browser?.close();
      for (const c of clients) c.close();
      await coord.stop('test over');
      fs.rmSync(userDataDir, { recursive: true, force: true });
    }
  },
);
