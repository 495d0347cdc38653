import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { startCli, tempDir, waitFor } from './cli';

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

/** Every series of a chart, its vertices mapped back through the axes the page drew. */
function readSeries(page: Page, chart: string): Promise<Record<string, [number, number][]>> {
  return page.$eval(`svg[data-chart="${chart}"]`, (svg) => {
    const [bx, by, bw, bh] = (svg.getAttribute('data-box') ?? '').split(',').map(Number) as [
      number,
      number,
      number,
      number,
    ];
    const n = (k: string): number => Number(svg.getAttribute(`data-${k}`));
    const out: Record<string, [number, number][]> = {};
    for (const line of Array.from(svg.querySelectorAll('polyline'))) {
      out[line.getAttribute('data-series') ?? ''] = (line.getAttribute('points') ?? '')
        .trim()
        .split(/\s+/)
        .map((p) => p.split(',').map(Number) as [number, number])
        .map(([px, py]) => [
          n('x0') + ((px - bx) / bw) * (n('x1') - n('x0')),
          n('y0') + ((by + bh - py) / bh) * (n('y1') - n('y0')),
        ]);
    }
    return out;
  });
}

test(
  'during a real ringtrain launch the status page lists every rank and ends with the curves of the run',
  { timeout: 180_000 },
  async (t) => {
    if (!fs.existsSync(CHROMIUM)) {
      t.skip(`${CHROMIUM} is missing: apt-get install chromium`);
      return;
    }
    const out = tempDir('status-launch');
    // Several seconds of training: the page must still see the job running once Chromium is up.
    const run = startCli(
      [
        'launch',
        '--nproc',
        '2',
        '--set',
        'train.epochs=3',
        'data.testLimit=1000',
        'cluster.joinTimeoutSec=30',
        '--out',
        out,
      ],
      { timeoutMs: 150_000 },
    );
    let stdout = '';
    run.child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-chromium-'));
    const browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    try {
      const url = await waitFor(
        'the status page address',
        () => /status page (http:\/\/127\.0\.0\.1:\d+\/)/.exec(stdout)?.[1],
        60_000,
      );
      const page = await browser.newPage();
      await page.goto(`${url}?interval=200`);
      // While it runs: both ranks are in the table with their ring addresses.
      await page.waitForFunction(() => document.querySelectorAll('#workers tbody tr').length === 2, undefined, {
        timeout: 60_000,
      });
      const rows = await page.$$eval('#workers tbody tr', (trs) =>
        trs.map((tr) => Array.from(tr.querySelectorAll('td')).map((td) => td.textContent ?? '')),
      );
      assert.deepEqual(
        rows.map((r) => r[0]),
        ['0', '1'],
      );
      for (const r of rows) assert.match(r[2] ?? '', /^127\.0\.0\.1:\d+$/);
      assert.equal(await page.textContent('#state'), 'running');

      // The coordinator lingers after the job ends; the page's last poll shows the finished job.
      await page.waitForFunction(() => document.getElementById('state')?.textContent === 'done', undefined, {
        timeout: 150_000,
      });
      const result = await run.result;
      assert.equal(result.code, 0, result.stdout + result.stderr);

      const metrics = fs
        .readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { epoch: number; split: string; loss: number; accuracy: number });
      const loss = await readSeries(page, 'loss');
      const acc = await readSeries(page, 'accuracy');
      for (const [split, key] of [
        ['train', 'train'],
        ['val', 'val'],
      ] as const) {
        const expected = metrics.filter((m) => m.split === split);
        assert.equal(loss[key]?.length, expected.length, `${split} loss points`);
        loss[key]!.forEach(([, y], i) =>
          assert.ok(
            Math.abs(y - expected[i]!.loss) < 0.01,
            `${split} loss of epoch ${i + 1}: page ${y}, run ${expected[i]!.loss}`,
          ),
        );
        acc[key]!.forEach(([, y], i) =>
          assert.ok(
            Math.abs(y - expected[i]!.accuracy) < 0.005,
            `${split} accuracy of epoch ${i + 1}: page ${y}, run ${expected[i]!.accuracy}`,
          ),
        );
      }
      // Step-level curves exist once the worker records its steps (RunRecorder wired into the loop).
      const stepsFile = path.join(out, 'steps.jsonl');
      if (fs.existsSync(stepsFile)) {
        const steps = fs
          .readFileSync(stepsFile, 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { step: number; loss: number });
        const shown = loss['train-step'] ?? [];
        assert.deepEqual(
          shown.map(([x]) => Math.round(x)),
          steps.map((s) => s.step),
          'one point per step the run made',
        );
        const span = Math.max(...steps.map((s) => s.loss));
        shown.forEach(([, y], i) =>
          assert.ok(
            Math.abs(y - steps[i]!.loss) <= span * 2e-3,
            `loss at step ${steps[i]!.step}: page ${y}, run ${steps[i]!.loss}`,
          ),
        );
      } else {
        t.diagnostic('the worker does not record steps yet: only epoch points were checked');
      }
    } finally {
      await browser.close();
      fs.rmSync(profile, { recursive: true, force: true });
      if (run.child.exitCode === null) run.child.kill('SIGTERM');
      await run.result;
    }
  },
);
