/**
 * The report's evaluation parts: a regression run gets error and R^2 curves and an epoch table
 * of MSE, MAE and R^2 instead of an empty accuracy chart; evaluation.json's confusion matrix is
 * drawn (each cell shaded by its share of the row) and its per-class table printed.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_JOB } from '../../src/config';
import { decodePng } from '../../src/report/png';
import { appendJsonLines } from '../../src/record/run-files';
import { writeReport } from '../../src/report/write-report';
import { classificationReport } from '../../src/train';

function bareRun(name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ringtrain-${name}-`));
  fs.writeFileSync(path.join(dir, 'job.json'), JSON.stringify({ ...DEFAULT_JOB, name }));
  return dir;
}

test('a regression run is reported with MSE, MAE and R^2, not an empty accuracy chart', async () => {
  const dir = bareRun('reg');
  for (let epoch = 1; epoch <= 3; epoch++) {
    appendJsonLines(path.join(dir, 'metrics.jsonl'), [
      { epoch, split: 'train', loss: 1 / epoch, mse: 1 / epoch, samplesPerSec: 100, skippedSteps: 0, maxGradNorm: 3 },
      {
        epoch,
        split: 'val',
        loss: 1.2 / epoch,
        mse: 1.2 / epoch,
        mae: 0.9 / epoch,
        r2: 1 - 0.2 / epoch,
        samplesPerSec: 500,
      },
    ]);
  }
  fs.writeFileSync(
    path.join(dir, 'evaluation.json'),
    JSON.stringify({
      split: 'test',
      samples: 50,
      loss: 0.4,
      accuracy: null,
      mse: 0.4,
      mae: 0.3,
      r2: 0.93,
      epochs: 3,
      stoppedEarly: false,
      restoredEpoch: 0,
    }),
  );
  const r = await writeReport(dir);
  const names = r.pngs.map((p) => path.basename(p));
  assert.ok(names.includes('errors.png') && names.includes('r2.png'), names.join(', '));
  assert.ok(!names.includes('accuracy.png'));
  const html = fs.readFileSync(r.html, 'utf8');
  assert.match(html, /<th>train MSE<\/th><th>val loss<\/th><th>val MSE<\/th><th>val MAE<\/th><th>val R\^2<\/th>/);
  assert.match(
    html,
    /<tr><td>3<\/td><td>0\.3333<\/td><td>0\.3333<\/td><td>0\.4000<\/td><td>0\.4000<\/td><td>0\.3000<\/td><td>0\.9333<\/td>/,
  );
  assert.match(html, /best validation MSE<\/th><td>0\.4000 \(epoch 3\)/);
  assert.match(
    html,
    /The saved model on the test set \(50 samples\): loss 0\.4000, MSE 0\.4000, MAE 0\.3000, R\^2 0\.9300\./,
  );
  assert.doesNotMatch(html, /NaN/);
});

test("evaluation.json's confusion matrix is drawn, shaded by row share, with the per-class table", async () => {
  const dir = bareRun('cls');
  appendJsonLines(path.join(dir, 'metrics.jsonl'), [
    { epoch: 1, split: 'train', loss: 0.5, accuracy: 0.8, samplesPerSec: 100 },
    { epoch: 1, split: 'val', loss: 0.6, accuracy: 0.75, samplesPerSec: 500 },
  ]);
  const confusion = [
    [90, 10, 0],
    [5, 5, 0],
    [0, 0, 10],
  ];
  const report = classificationReport(confusion, ['cat', 'dog', 'emu']);
  fs.writeFileSync(
    path.join(dir, 'evaluation.json'),
    JSON.stringify({
      split: 'test',
      samples: 120,
      loss: 0.6,
      accuracy: report.accuracy,
      epochs: 3,
      stoppedEarly: true,
      restoredEpoch: 1,
      report,
    }),
  );
  const r = await writeReport(dir);
  const png = decodePng(fs.readFileSync(path.join(r.dir, 'confusion-matrix.png')));
  // 3 classes: 56 px cells from x = 44 + label width, y = 48.
  const left = png.width - 24 - 3 * 56;
  const shadeAt = (t: number, p: number): number => {
    const i = ((48 + t * 56 + 3) * png.width + left + p * 56 + 3) * 4;
    return png.rgba[i]! + png.rgba[i + 1]! + png.rgba[i + 2]!;
  };
  // Darker is a larger share of the row: cat->cat (0.9) < dog->dog (0.5) < cat->dog (0.1) < emu->cat (0).
  assert.ok(
    shadeAt(0, 0) < shadeAt(1, 1) && shadeAt(1, 1) < shadeAt(0, 1) && shadeAt(0, 1) < shadeAt(2, 0),
    [shadeAt(0, 0), shadeAt(1, 1), shadeAt(0, 1), shadeAt(2, 0)].join(' '),
  );
  assert.ok(shadeAt(2, 2) < shadeAt(0, 0), 'emu->emu (1.0) is darkest');
  const html = fs.readFileSync(r.html, 'utf8');
  assert.match(
    html,
    /weights of epoch 1 \(restored as the best\); early stopping ended training after epoch 3\): loss 0\.6000, accuracy 0\.8750/,
  );
  assert.match(
    html,
    /<tr><td class="l">dog<\/td><td>0\.3333<\/td><td>0\.5000<\/td><td>0\.4000<\/td><td>10<\/td><\/tr>/,
  );
  assert.match(html, /<th class="l">macro avg<\/th><td>0\.7602<\/td>/);
});
