import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { selectBackend } from '../../src/compute';
import { DEFAULT_JOB, type JobSpec } from '../../src/config';
import { buildModel, saveModelToDir } from '../../src/train';
import { decodePng } from '../../src/report/png';
import { featureMapPlots, resolveMapLayers } from '../../src/report/report-feature-maps';
import { writeReport } from '../../src/report/write-report';

const SPEC: JobSpec = { ...DEFAULT_JOB, name: 'maps', model: { ...DEFAULT_JOB.model, kind: 'cnn', channels: [4, 20] } };

async function runDir(): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-maps-'));
  fs.writeFileSync(path.join(dir, 'job.json'), JSON.stringify(SPEC));
  fs.writeFileSync(
    path.join(dir, 'metrics.jsonl'),
    `${JSON.stringify({ epoch: 1, split: 'train', loss: 1, accuracy: 0.5, samplesPerSec: 100 })}\n` +
      `${JSON.stringify({ epoch: 1, split: 'val', loss: 1.1, accuracy: 0.5, samplesPerSec: 100 })}\n`,
  );
  await selectBackend('wasm');
  const model = buildModel(SPEC.model, [784], 10, 1);
  await saveModelToDir(model, path.join(dir, 'model'));
  model.dispose();
  return dir;
}

test('the report draws feature maps of each listed layer for the first N test images, one row per image', async () => {
  const dir = await runDir();
  try {
    const r = await writeReport(dir, { featureMaps: { layers: ['conv_0', 'conv_1'], images: 3 } });
    const names = r.pngs.map((p) => path.basename(p));
    assert.ok(names.includes('feature-maps-conv_0.png') && names.includes('feature-maps-conv_1.png'), names.join(', '));
    assert.ok(!names.includes('feature-maps.png'), 'the default first-convolution plot gives way to the listed layers');
    // conv_1 has 20 channels: 16 drawn per row, after the input; three rows.
    const png = decodePng(fs.readFileSync(path.join(r.dir, 'feature-maps-conv_1.png')));
    assert.ok(png.width > 17 * 48 && png.height > 3 * 48, `${png.width}x${png.height}`);
    const html = fs.readFileSync(r.html, 'utf8');
    assert.match(html, /conv_1 \(Conv2D\) for the first 3 test images, one row each: the input, then channels 0 to 15/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("feature maps label each row with its image's class and the first row with channel numbers", async () => {
  await selectBackend('wasm');
  const model = buildModel(SPEC.model, [784], 10, 1);
  try {
    const samples = [7, 2, 1].map((label, i) => ({
      x: Float32Array.from({ length: 784 }, (_, k) => Math.sin(k * (i + 1))),
      label,
    }));
    const [conv0, pool0] = featureMapPlots(model, resolveMapLayers(model, ['conv_0', 'pool_0']), samples);
    const texts = conv0!.raster.texts.map((t) => t.what);
    assert.deepEqual(
      texts.filter((t) => t.startsWith('label')),
      ['label 7', 'label 2', 'label 1'],
    );
    assert.deepEqual(
      texts.filter((t) => /^\d+$/.test(t)),
      ['0', '1', '2', '3'],
      'conv_0 has 4 channels, numbered once',
    );
    assert.match(texts[0]!, /^conv_0 feature maps of 3 test images \(26x26, 4 of 4 channels\)$/);
    assert.match(pool0!.raster.texts[0]!.what, /^pool_0 feature maps of 3 test images \(13x13, 4 of 4 channels\)$/);
    assert.deepEqual(
      resolveMapLayers(model, ['all'])
        .map((l) => l.name)
        .filter((n) => n.startsWith('conv') || n.startsWith('pool')),
      ['conv_0', 'pool_0', 'conv_1', 'pool_1'],
    );
    assert.deepEqual(
      resolveMapLayers(model, []).map((l) => l.name),
      ['conv_0'],
    );
  } finally {
    model.dispose();
  }
});

test('a layer the model lacks, or one without maps, is refused by name with the layers that have maps', async () => {
  const dir = await runDir();
  try {
    for (const [layers, message] of [
      [
        ['conv_9'],
        /--feature-maps: the model has no layer 'conv_9'; layers with feature maps: .*conv_0, pool_0, conv_1, pool_1/,
      ],
      [['dense_0'], /--feature-maps: layer 'dense_0' outputs shape \[batch, \d+\], not height x width x channels maps/],
    ] as const) {
      await assert.rejects(
        writeReport(dir, { outDir: path.join(dir, 'r'), featureMaps: { layers, images: 1 } }),
        (e: Error & { code?: string }) => e.code === 'CONFIG_INVALID' && message.test(e.message),
      );
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
