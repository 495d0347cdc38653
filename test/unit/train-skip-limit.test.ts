/**
 * The non-finite guard's limit and the epoch's gradient figures, on 2 in-memory ranks:
 * train.maxSkippedSteps skipped steps in a row fail the job on every rank at the same step;
 * fewer, or skips that are not in a row, do not; skipped steps stay out of the epoch's train loss;
 * the epoch reports its largest gradient norm next to the mean.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { distributedIndices } from '../../src/data';
import type { EpochSummary } from '../../src/worker/train-loop';
import { mnistSlice, specWith, trainRanks, writableFloatRows } from './train-harness';

test('maxSkippedSteps skipped steps in a row fail the job on every rank, naming the limit and the fix', async () => {
  const data = await mnistSlice(256, 100);
  const poisoned = { ...data, train: writableFloatRows(data.train) };
  poisoned.train.images.fill(NaN, 0, 256 * 784);
  const spec = specWith({ data: { batchSize: 16 }, train: { epochs: 2, nonFinite: 'skip', maxSkippedSteps: 3 } });
  const runs = await trainRanks({ world: 2, spec, data: poisoned });
  for (const r of runs) {
    assert.match(
      String(r.error?.message),
      /non-finite loss \(NaN\) at step 3, epoch 1: 3 steps in a row skipped \(train\.maxSkippedSteps 3; 3 skipped in all\): training has diverged\. Lower train\.lr, set train\.clipNorm, check the data for NaN, or raise train\.maxSkippedSteps \(0 = never fail\)/,
    );
    assert.match(await r.registry.metrics(), /ringtrain_nonfinite_steps_total\{action="skip",rank="\d"\} 3/);
  }
});

test('skips that are not in a row stay under the limit; skipped steps are out of the train loss; the epoch has its largest norm', async () => {
  const data = await mnistSlice(256, 100);
  const poisoned = { ...data, train: writableFloatRows(data.train) };
  const spec = specWith({ data: { batchSize: 16 }, train: { epochs: 1, nonFinite: 'skip', maxSkippedSteps: 2 } });
  // Rank 1's 1st, 3rd and 5th batches hold a NaN: steps 1, 3 and 5 of 8 are skipped, never two in a row.
  const mine = distributedIndices({ datasetSize: 256, worldSize: 2, rank: 1, epoch: 0, seed: spec.seed });
  for (const b of [0, 2, 4]) poisoned.train.images[mine[b * 16]! * 784] = NaN;
  const epochs: EpochSummary[] = [];
  const runs = await trainRanks({
    world: 2,
    spec,
    data: poisoned,
    hooks: (rank) => ({ onEpoch: (e) => void (rank === 0 && epochs.push(e)) }),
  });
  for (const r of runs) {
    assert.equal(r.error, undefined, String(r.error));
    assert.equal(r.result?.skippedSteps, 3);
  }
  const e = epochs[0]!;
  assert.equal(e.skippedSteps, 3);
  assert.equal(e.stepsInEpoch, 8);
  assert.ok(Number.isFinite(e.train.loss), `train loss ${e.train.loss} must leave the skipped steps out`);
  assert.equal(e.train.samples, 5 * 32, 'the 5 applied steps of 2 x 16 rows');
  assert.ok(e.maxGradNorm >= e.gradNorm && e.maxGradNorm > 0, `max ${e.maxGradNorm} vs mean ${e.gradNorm}`);
  assert.ok(e.firstGradNorm > 0);
});
