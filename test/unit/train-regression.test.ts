/** Regression end to end in-process: CSV rows, MSE loss, MSE/MAE validation metrics on 2 ranks. */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { selectBackend } from '../../src/compute';
import { DEFAULT_JOB } from '../../src/config';
import { loadDataset } from '../../src/data';
import { specWith, trainRanks } from './train-harness';

test('an MLP fits y = 2a - b + 0.5 from a CSV and reports validation MSE and MAE, the same on both ranks', async () => {
  await selectBackend('wasm');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-reg-'));
  // A fixed pseudo-random grid of (a, b) pairs; the target is exact (no noise).
  const rows: string[] = [];
  for (let i = 0; i < 600; i++) {
    const a = ((i * 7919) % 1000) / 100 - 5;
    const b = ((i * 104729) % 1000) / 100 - 5;
    rows.push(`${a},${b},${2 * a - b + 0.5}`);
  }
  fs.writeFileSync(path.join(dir, 'train.csv'), `a,b,y\n${rows.join('\n')}\n`);
  const data = loadDataset({
    ...DEFAULT_JOB.data,
    dataset: 'csv',
    trainFile: path.join(dir, 'train.csv'),
    task: 'regression',
    valFraction: 0.2,
  });
  const spec = specWith({
    data: { batchSize: 16 },
    train: { epochs: 30, optimizer: 'adam', lr: 0.01, monitor: 'mse' },
  });
  const epochs: { mse: number; mae: number; accuracy: number }[] = [];
  const runs = await trainRanks({
    world: 2,
    spec,
    data: { train: data.train, val: data.val },
    hooks: (rank) => ({
      onEpoch: (e) => void (rank === 0 && epochs.push({ mse: e.val.mse!, mae: e.val.mae!, accuracy: e.val.accuracy })),
    }),
  });
  assert.equal(runs[0]!.error, undefined, String(runs[0]!.error));
  assert.deepEqual(runs[0]!.weights, runs[1]!.weights);
  const first = epochs[0]!;
  const last = epochs[epochs.length - 1]!;
  // The target's variance is about 4*8.3 + 8.3 = 42; a fitted model is far below that.
  assert.ok(last.mse < 0.05, `validation MSE after 30 epochs: ${last.mse} (first epoch ${first.mse})`);
  assert.ok(last.mse < first.mse / 10);
  assert.ok(
    last.mae > 0 && last.mae * last.mae <= last.mse + 1e-9,
    `MAE ${last.mae} must satisfy MAE^2 <= MSE ${last.mse}`,
  );
  assert.ok(Number.isNaN(last.accuracy), 'regression has no accuracy');
});
