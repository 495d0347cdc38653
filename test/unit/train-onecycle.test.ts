/**
 * The onecycle schedule in the training loop: every rank takes the same lr and momentum at
 * every step, so N workers still train as one, and the momentum cycle reaches the optimizer.
 * The spec checks that refuse what torch refuses (or what would silently do something else).
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { validateJob } from '../../src/config';
import { configError } from './support';
import { mnistSlice, relativeDifference, specWith, trainRanks } from './train-harness';

test('with onecycle stepping per optimizer step, 2 workers x batch 16 train like 1 worker x batch 32, and the momentum cycle changes the weights', async () => {
  const data = await mnistSlice(20 * 32, 64);
  const run = async (world: number, cycleMomentum: boolean): Promise<Float32Array[]> => {
    const spec = specWith({
      data: { batchSize: 32 / world },
      train: { epochs: 1, lr: 0.1, momentum: 0.9, schedule: { name: 'onecycle', interval: 'step', cycleMomentum } },
    });
    const ranks = await trainRanks({ world, spec, data });
    for (const r of ranks) assert.equal(r.error, undefined, String(r.error));
    return ranks.map((r) => r.weights);
  };
  const [single] = await run(1, true);
  const pair = await run(2, true);
  const [fixed] = await run(1, false);
  assert.deepEqual(pair[0], pair[1], 'the two replicas differ');
  const rel = relativeDifference(single!, pair[0]!);
  assert.ok(rel <= 1e-5, `2 workers are ${rel} away from 1 worker`);
  const cycled = relativeDifference(single!, fixed!);
  assert.ok(cycled > 1e-4, `cycling momentum left the weights within ${cycled} of a fixed momentum 0.9`);
});

test('onecycle is checked: it warms up itself, and cycling momentum needs an optimizer with momentum', () => {
  const ok = validateJob({ train: { optimizer: 'sgd', momentum: 0.9, schedule: { name: 'onecycle', interval: 'step' } } }, 'job.yaml');
  assert.equal(ok.train.schedule.pctStart, 0.3);
  assert.equal(ok.train.schedule.maxMomentum, 0.95);
  assert.equal(validateJob({ train: { optimizer: 'adam', schedule: { name: 'onecycle' } } }, 'job.yaml').train.schedule.name, 'onecycle', "adam's beta1 cycles");
  assert.equal(validateJob({ train: { schedule: { name: 'onecycle', cycleMomentum: false } } }, 'job.yaml').train.schedule.cycleMomentum, false);
  assert.match(
    configError(() => validateJob({ train: { momentum: 0.9, schedule: { name: 'onecycle', warmup: 3 } } }, 'job.yaml')),
    /job\.yaml: train\.schedule\.warmup \(3\) does not combine with the onecycle schedule, which warms up itself .*set train\.schedule\.warmup to 0/,
  );
  assert.match(
    configError(() => validateJob({ train: { optimizer: 'sgd', momentum: 0, schedule: { name: 'onecycle' } } }, 'job.yaml')),
    /job\.yaml: the onecycle schedule cycles momentum, but train\.optimizer sgd has train\.momentum 0 .*set train\.momentum \(e\.g\. 0\.9\) or train\.schedule\.cycleMomentum to false/,
  );
  assert.match(configError(() => validateJob({ train: { schedule: { name: 'onecycle', pctStart: 1 } } }, 'job.yaml')), /train\.schedule\.pctStart must be .*got 1/);
  assert.match(configError(() => validateJob({ train: { schedule: { name: 'onecycle', anneal: 'cosine' } } }, 'job.yaml')), /train\.schedule\.anneal must be one of 'cos', 'linear', got "cosine"/);
  assert.match(configError(() => validateJob({ train: { schedule: { name: 'cosine-restarts', tMult: 0 } } }, 'job.yaml')), /train\.schedule\.tMult must be .*got 0/);
});
