import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium } from 'playwright-core';
import { decodeHParamsContent, eventFilesIn, readEventFile, scalarsByTag } from '../../src/observe/tensorboard-reader';
import { decodePng } from '../../src/report/png';
import { QUICK, runCli, tempDir } from './cli';

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

test(
  'ringtrain report on a finished run writes index.html and PNGs that a browser decodes',
  { timeout: 240_000 },
  async (t) => {
    const out = tempDir('report');
    const run = await runCli(['launch', '--nproc', '2', '--set', 'train.epochs=2', ...QUICK, '--out', out], {
      timeoutMs: 150_000,
    });
    assert.equal(run.code, 0, `launch exit ${run.code}\n${run.stdout}\n${run.stderr}`);
    assert.doesNotMatch(run.stdout, /\u001b/, 'no escape codes off a terminal');

    const r = await runCli(['report', out], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, `report exit ${r.code}\n${r.stdout}\n${r.stderr}`);
    const html = path.join(out, 'report', 'index.html');
    assert.match(
      r.stdout,
      new RegExp(`report written to ${html.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} with \\d+ plots`),
    );
    const pngs = fs
      .readdirSync(path.join(out, 'report'))
      .filter((f) => f.endsWith('.png'))
      .sort();
    for (const must of ['accuracy.png', 'first-layer-weights.png', 'learning-rate.png', 'loss.png', 'throughput.png'])
      assert.ok(pngs.includes(must), `${must} in ${pngs.join(', ')}`);
    const sizes = new Map(pngs.map((f) => [f, decodePng(fs.readFileSync(path.join(out, 'report', f)))]));

    // The run's own numbers are in the report.
    const metrics = fs
      .readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { epoch: number; split: string; accuracy: number });
    const lastVal = metrics.filter((m) => m.split === 'val').at(-1)!;
    const page = fs.readFileSync(html, 'utf8');
    assert.ok(page.includes(`${(100 * lastVal.accuracy).toFixed(2)}%`), 'final validation accuracy shown');
    assert.match(page, /<h2>Per-rank timing<\/h2>\s*<p class="note">Seconds/);

    // When the worker records TensorBoard files, they must decode and hold the epoch scalars.
    const tb = path.join(out, 'tensorboard', 'validation');
    if (fs.existsSync(tb)) {
      const files = eventFilesIn(tb);
      assert.equal(files.length, 1);
      const scalars = scalarsByTag(readEventFile(files[0]!).events);
      assert.deepEqual(
        scalars.get('epoch/accuracy')?.map((p) => p.value),
        metrics.filter((m) => m.split === 'val').map((m) => Math.fround(m.accuracy)),
      );
    }

    // TensorBoard's HParams tab: the job's settings and the saved model's test accuracy, as evaluation.json has it.
    const hparamsFile = eventFilesIn(path.join(out, 'tensorboard')).find((f) => f.endsWith('.hparams'));
    assert.ok(hparamsFile !== undefined, 'an HParams event file in tensorboard/');
    const events = readEventFile(hparamsFile).events;
    const start = events.flatMap((e) => e.values).find((v) => v.tag === '_hparams_/session_start_info');
    const hp = (
      decodeHParamsContent(start!.content!) as {
        sessionStartInfo: { hparams: Record<string, { numberValue?: number }> };
      }
    ).sessionStartInfo.hparams;
    assert.equal(hp['train.epochs']?.numberValue, 2);
    assert.equal(hp['cluster.worldSize']?.numberValue, 2);
    const evaluation = JSON.parse(fs.readFileSync(path.join(out, 'evaluation.json'), 'utf8')) as { accuracy: number };
    assert.equal(scalarsByTag(events).get('final/test_accuracy')?.[0]?.value, Math.fround(evaluation.accuracy));

    if (!fs.existsSync(CHROMIUM)) {
      t.diagnostic(`${CHROMIUM} missing: the browser check of the images is skipped`);
      return;
    }
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-chromium-'));
    const browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    try {
      const tab = await browser.newPage();
      await tab.goto(`file://${html}`);
      const imgs = await tab.$$eval('img', (list) =>
        list.map((i) => ({ w: i.naturalWidth, h: i.naturalHeight, complete: i.complete })),
      );
      assert.equal(imgs.length, pngs.length, 'every PNG is embedded');
      const expected = [...sizes.values()].map((p) => `${p.width}x${p.height}`).sort();
      assert.deepEqual(
        imgs.map((i) => `${i.w}x${i.h}`).sort(),
        expected,
        'Chromium decodes every embedded PNG at its size',
      );
    } finally {
      await browser.close();
      fs.rmSync(profile, { recursive: true, force: true });
    }
  },
);

test('ringtrain report refuses a missing run directory and a missing argument', async () => {
  const missing = path.join(os.tmpdir(), 'ringtrain-no-such-run');
  const r = await runCli(['report', missing], { timeoutMs: 30_000 });
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /run directory .*ringtrain-no-such-run does not exist: pass the --out directory of a ringtrain launch/,
  );
  const none = await runCli(['report'], { timeoutMs: 30_000 });
  assert.equal(none.code, 2);
  assert.match(none.stderr, /report takes exactly one run directory/);
});
