/**
 * Decisions the loop takes from all-reduced values, checked on 2 in-memory ranks: early stopping
 * and restoring the best weights, the non-finite guard (skip or stop, the same on every rank,
 * counted in Prometheus), the linear scaling rule and the per-step schedule.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { distributedIndices } from '../../src/data';
import { mnistSlice, specWith, trainRanks, writableFloatRows } from './train-harness';

test('early stopping ends training on every rank at the epoch patience runs out', async () => {
  const data = await mnistSlice(256, 100);
  // minDelta 10 on a loss near 2: only epoch 1 (from +Infinity) counts as an improvement, so
  // with patience 2 epochs 2 and 3 miss and training stops after epoch 3 of 10.
  const spec = specWith({
    data: { batchSize: 32 },
    train: { epochs: 10, earlyStopping: { patience: 2, minDelta: 10, restoreBest: false } },
  });
  const epochsSeen: number[][] = [[], []];
  const runs = await trainRanks({
    world: 2,
    spec,
    data,
    hooks: (rank) => ({ onEpoch: (e) => void epochsSeen[rank]!.push(e.epoch) }),
  });
  for (const r of runs) {
    assert.equal(r.error, undefined);
    assert.equal(r.result?.stoppedEarly, true);
    assert.equal(r.result?.last?.epoch, 3);
    assert.equal(r.result?.steps, 3 * 4);
  }
  assert.deepEqual(epochsSeen, [
    [1, 2, 3],
    [1, 2, 3],
  ]);
});

test('restoreBest puts back the weights of the best epoch on every rank', async () => {
  const data = await mnistSlice(256, 100);
  const spec = specWith({
    data: { batchSize: 32 },
    train: { epochs: 10, lr: 0.05, earlyStopping: { patience: 2, minDelta: 10, restoreBest: true } },
  });
  const afterEpoch: Float32Array[][] = [[], []];
  const recorded = await trainRanks({
    world: 2,
    spec,
    data,
    hooks: (rank, loop) => ({ onEpoch: () => void afterEpoch[rank]!.push(loop().params.slice()) }),
  });
  for (const r of recorded) {
    assert.equal(r.result?.stoppedEarly, true);
    assert.equal(r.result?.restoredEpoch, 1);
  }
  assert.equal(afterEpoch[0]!.length, 3);
  assert.notDeepEqual(afterEpoch[0]![2], afterEpoch[0]![0], 'epochs 2 and 3 changed the weights');
  for (const r of recorded)
    assert.deepEqual(r.weights, afterEpoch[0]![0], `rank ${r.rank} did not end with epoch 1's weights`);
  assert.ok(recorded[0]!.logs.some((l) => l.event === 'restored-best' && l.epoch === 1));
});

test("a NaN in one rank's batch makes every rank skip that step and count it, when nonFinite is skip", async () => {
  const data = await mnistSlice(256, 100);
  // Poison one sample that only rank 1 sees in its first batch of epoch 0.
  const poisoned = { ...data, train: writableFloatRows(data.train) };
  const spec = specWith({ data: { batchSize: 32 }, train: { epochs: 1, nonFinite: 'skip' } });
  const victim = distributedIndices({ datasetSize: 256, worldSize: 2, rank: 1, epoch: 0, seed: spec.seed })[0]!;
  poisoned.train.images[victim * 784] = NaN;
  const runs = await trainRanks({ world: 2, spec, data: poisoned });
  for (const r of runs) {
    assert.equal(r.error, undefined, String(r.error));
    assert.equal(r.result?.skippedSteps, 1);
    assert.equal(r.result?.steps, 4, 'the skipped step still consumed its batch');
    const text = await r.registry.metrics();
    assert.match(text, new RegExp(`ringtrain_nonfinite_steps_total\\{action="skip",rank="${r.rank}"\\} 1`));
  }
  assert.deepEqual(runs[0]!.weights, runs[1]!.weights);
  assert.ok(runs[0]!.weights.every(Number.isFinite), 'NaN reached the weights');
  const warn = runs[0]!.logs.find((l) => l.event === 'nonfinite-skip');
  assert.match(String(warn?.msg), /non-finite loss \(NaN\) at step 1, epoch 1: update skipped \(1 so far\)/);
});

test('with nonFinite stop, every rank stops at the same step with an error that says what to do', async () => {
  const data = await mnistSlice(256, 100);
  const poisoned = { ...data, train: writableFloatRows(data.train) };
  poisoned.train.images.fill(NaN, 0, 256 * 784);
  const spec = specWith({ data: { batchSize: 32 }, train: { epochs: 1, nonFinite: 'stop' } });
  const runs = await trainRanks({ world: 2, spec, data: poisoned });
  for (const r of runs) {
    assert.match(
      String(r.error?.message),
      /non-finite loss \(NaN\) at step 1, epoch 1: stopping \(train.nonFinite: stop\)\. Lower train.lr, set train.clipNorm/,
    );
    assert.match(await r.registry.metrics(), /ringtrain_nonfinite_steps_total\{action="stop",rank="\d"\} 1/);
  }
});

test('the linear scaling rule and a per-step warmup set the lr every rank uses', async () => {
  const data = await mnistSlice(256, 100);
  const schedule = { ...specWith({}).train.schedule, interval: 'step' as const, warmup: 4, warmupStartFactor: 0.5 };
  const spec = specWith({ data: { batchSize: 32 }, train: { epochs: 1, lr: 0.01, scaleLr: true, schedule } });
  const lrs: number[] = [];
  await trainRanks({
    world: 2,
    spec,
    data,
    before: (rank, loop) => {
      if (rank !== 0) return;
      const step = loop.optimizer.step.bind(loop.optimizer);
      loop.optimizer.step = (p, g, lr) => {
        lrs.push(lr);
        step(p, g, lr);
      };
    },
  });
  // base 0.01 x 2 ranks = 0.02; warmup 0.5 -> 1 over 4 steps; 4 steps in the epoch.
  assert.deepEqual(
    lrs.map((l) => Math.round(l * 1e6) / 1e6),
    [0.01, 0.0125, 0.015, 0.0175],
  );
});
