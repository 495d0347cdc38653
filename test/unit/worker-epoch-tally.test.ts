/** The epoch's bookkeeping on numbers alone (epoch-tally.ts, replica.ts reshard): no ring, no clock. */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import {
  addStep,
  epochSummary,
  midEpochCheckpointDue,
  monitoredValue,
  positionAfterEpoch,
  startTally,
  stepRanges,
  trainMetrics,
} from '../../src/worker/epoch-tally';
import { reshard } from '../../src/worker/replica';
import type { TrainCounters } from '../../src/worker/train-state';

const step = (o: {
  applied?: boolean;
  clipped?: boolean;
  norm?: number;
  rows?: number;
  correct?: number;
  lossSum?: number;
}) => ({ applied: true, clipped: false, norm: 1, rows: 8, correct: 5, lossSum: 4, ...o });

test('only applied steps make the train sums and norms; skipped steps count their rows apart', () => {
  let t = startTally([10, 3, 20], 0);
  assert.deepEqual(t.sums, [10, 3, 20], "rank 0 carries a resumed epoch's global partial sums");
  assert.deepEqual(startTally([10, 3, 20], 1).sums, [0, 0, 0], 'the other ranks start at zero');
  t = addStep(t, step({ norm: 2, clipped: true }));
  t = addStep(t, step({ applied: false, norm: NaN, rows: 6, correct: 1, lossSum: NaN }));
  t = addStep(t, step({ norm: 4, rows: 4, correct: 2, lossSum: 1.5 }));
  assert.deepEqual(t.sums, [15.5, 10, 32]);
  assert.equal(t.skippedRows, 6);
  assert.deepEqual(
    { applied: t.applied, skipped: t.skipped, clipped: t.clipped, normSum: t.normSum, maxNorm: t.maxNorm },
    { applied: 2, skipped: 1, clipped: 1, normSum: 6, maxNorm: 4 },
  );
});

test("an epoch's steps are k batches each from the position, the last one shorter", () => {
  assert.deepEqual(stepRanges(0, 10, 4), [
    { from: 0, to: 4 },
    { from: 4, to: 8 },
    { from: 8, to: 10 },
  ]);
  assert.deepEqual(stepRanges(8, 10, 4), [{ from: 8, to: 10 }], 'a resumed epoch starts at its position');
  assert.deepEqual(stepRanges(3, 3, 1), []);
});

test("a mid-epoch checkpoint is due at the step mark, but not on the epoch's last step", () => {
  assert.equal(midEpochCheckpointDue(5, 10, false), true);
  assert.equal(midEpochCheckpointDue(5, 10, true), false);
  assert.equal(midEpochCheckpointDue(5, 11, false), false);
  assert.equal(midEpochCheckpointDue(0, 10, false), false);
});

test('after an epoch: a complete one moves on and clears its sums; one cut short by maxSteps keeps its global partial', () => {
  const total = new Float32Array([12.5, 30, 40, 0]);
  const checkpoint = { everyEpochs: 2, everySteps: 0 };
  const done = positionAfterEpoch({
    counters: { epoch: 1, batchInEpoch: 10, step: 20 },
    batches: 10,
    total,
    checkpoint,
    stopEarly: false,
  });
  assert.deepEqual(done, { epoch: 2, complete: true, partial: [0, 0, 0], checkpointDue: true });
  const odd = positionAfterEpoch({
    counters: { epoch: 0, batchInEpoch: 10, step: 10 },
    batches: 10,
    total,
    checkpoint,
    stopEarly: false,
  });
  assert.equal(odd.checkpointDue, false, 'epoch 1 is not a multiple of everyEpochs 2');
  const cut = positionAfterEpoch({
    counters: { epoch: 1, batchInEpoch: 6, step: 16 },
    batches: 10,
    total,
    checkpoint,
    stopEarly: false,
  });
  assert.deepEqual(cut, { epoch: 1, complete: false, partial: [12.5, 30, 40], checkpointDue: false });
  assert.equal(
    positionAfterEpoch({
      counters: { epoch: 0, batchInEpoch: 10, step: 10 },
      batches: 10,
      total,
      checkpoint,
      stopEarly: true,
    }).checkpointDue,
    true,
    'early stopping checkpoints',
  );
  assert.equal(
    positionAfterEpoch({
      counters: { epoch: 0, batchInEpoch: 6, step: 15 },
      batches: 10,
      total,
      checkpoint: { everyEpochs: 0, everySteps: 5 },
      stopEarly: false,
    }).checkpointDue,
    true,
    'at the step mark',
  );
});

test('the monitored value and the train metrics from the all-reduced totals', () => {
  const val = { loss: 0.5, accuracy: 0.8, samples: 10, mse: 0.25, mae: 0.4 };
  assert.equal(monitoredValue('accuracy', val), 0.8);
  assert.equal(monitoredValue('mse', val), 0.25);
  assert.equal(monitoredValue('mae', val), 0.4);
  assert.equal(monitoredValue('loss', val), 0.5);
  assert.equal(monitoredValue('mae', { loss: 0.5, accuracy: NaN, samples: 1 }), 0.5, 'without mae, the loss');
  assert.deepEqual(trainMetrics(new Float32Array([20, 30, 40, 0]), false), { loss: 0.5, accuracy: 0.75, samples: 40 });
  const reg = trainMetrics(new Float32Array([20, 0, 40, 0]), true);
  assert.ok(Number.isNaN(reg.accuracy));
  assert.equal(reg.mse, 0.5);
});

test('the epoch summary: throughput counts skipped rows, norms are NaN without an applied step', () => {
  const tally = addStep(startTally([0, 0, 0], 0), step({ applied: false, rows: 8 }));
  const train = { loss: NaN, accuracy: NaN, samples: 0 };
  const val = { loss: 1, accuracy: 0.5, samples: 50 };
  const time = { data: 0, compute: 0, communication: 0, update: 0, peerWait: 0 };
  const s = epochSummary({
    epoch: 2,
    epochs: 5,
    step: 9,
    lr: 0.1,
    train,
    val,
    tally,
    skippedRows: 16,
    seconds: 2,
    evalSeconds: 0.5,
    time,
    firstGradNorm: undefined,
    stepsInEpoch: 1,
    improved: false,
    stopEarly: false,
    sparsity: undefined,
  });
  assert.equal(s.epoch, 3, '1-based');
  assert.equal(s.samplesPerSec, 8);
  assert.equal(s.evalSamplesPerSec, 100);
  assert.ok(Number.isNaN(s.gradNorm) && Number.isNaN(s.maxGradNorm) && Number.isNaN(s.firstGradNorm));
  assert.equal(s.skippedSteps, 1);
});

test("a mid-epoch position taken over by a ring of another size becomes an offset into the epoch's order", () => {
  const c = { epoch: 1, batchInEpoch: 3, worldSize: 3, epochOffset: 10 } as TrainCounters;
  assert.equal(reshard(c, 8, 2), true);
  assert.deepEqual({ ...c }, { epoch: 1, batchInEpoch: 0, worldSize: 2, epochOffset: 10 + 3 * 8 * 3 });
  const same = { epoch: 1, batchInEpoch: 3, worldSize: 2 } as TrainCounters;
  assert.equal(reshard(same, 8, 2), false, 'the same size keeps its position');
  assert.deepEqual({ ...same }, { epoch: 1, batchInEpoch: 3, worldSize: 2 });
  const boundary = { epoch: 1, batchInEpoch: 0, worldSize: 3 } as TrainCounters;
  assert.equal(reshard(boundary, 8, 2), false, 'an epoch boundary needs no offset');
  assert.equal(boundary.worldSize, 2);
});
