/**
 * The onecycle schedule in the training loop: every rank takes the same lr and momentum at
 * every step, so N workers still train as one, and the momentum cycle reaches the optimizer.
 * The spec checks that refuse what torch refuses (or what would silently do something else).
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { validateJob } from '../../src/config';
import { LrSchedule } from '../../src/train';
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

test("each step reports the momentum it used: onecycle's cycle in the step detail and the ringtrain_momentum gauge, else the optimizer's own", async () => {
  const data = await mnistSlice(10 * 32, 32);
  const run = async (
    train: Parameters<typeof specWith>[0]['train'],
  ): Promise<{ momenta: (number | undefined)[]; gauge: number | undefined }> => {
    const spec = specWith({ data: { batchSize: 32 }, train: { epochs: 1, lr: 0.1, momentum: 0.9, ...train } });
    const momenta: (number | undefined)[] = [];
    const [rank] = await trainRanks({
      world: 1,
      spec,
      data,
      hooks: () => ({ onStepDetail: (s) => void momenta.push(s.momentum) }),
    });
    assert.equal(rank?.error, undefined, String(rank?.error));
    const gauge = (await rank?.registry.getSingleMetric('ringtrain_momentum')?.get())?.values[0]?.value;
    return { momenta, gauge };
  };
  const cycled = await run({ schedule: { name: 'onecycle', interval: 'step', threePhase: true, pctStart: 0.2 } });
  const schedule = new LrSchedule(
    specWith({ train: { schedule: { name: 'onecycle', interval: 'step', threePhase: true, pctStart: 0.2 } } }).train
      .schedule,
    0.1,
    10,
  );
  const want = Array.from({ length: 10 }, (_, t) => schedule.momentumAt(t));
  assert.deepEqual(cycled.momenta, want);
  assert.ok(
    Math.min(...(want as number[])) < 0.9 && Math.max(...(want as number[])) > 0.9,
    `the cycle moved: ${want.join(', ')}`,
  );
  assert.equal(cycled.gauge, want[9]);
  const sgd = await run({});
  assert.deepEqual(sgd.momenta, new Array(10).fill(undefined));
  assert.equal(sgd.gauge, 0.9);
  const adam = await run({ optimizer: 'adam', lr: 0.001, beta1: 0.8 });
  assert.equal(adam.gauge, 0.8);
});

test('onecycle is checked: it warms up itself, and cycling momentum needs an optimizer with momentum', () => {
  const ok = validateJob(
    { train: { optimizer: 'sgd', momentum: 0.9, schedule: { name: 'onecycle', interval: 'step' } } },
    'job.yaml',
  );
  assert.equal(ok.train.schedule.pctStart, 0.3);
  assert.equal(ok.train.schedule.maxMomentum, 0.95);
  assert.equal(
    validateJob({ train: { optimizer: 'adam', schedule: { name: 'onecycle' } } }, 'job.yaml').train.schedule.name,
    'onecycle',
    "adam's beta1 cycles",
  );
  assert.equal(
    validateJob({ train: { schedule: { name: 'onecycle', cycleMomentum: false } } }, 'job.yaml').train.schedule
      .cycleMomentum,
    false,
  );
  assert.match(
    configError(() => validateJob({ train: { momentum: 0.9, schedule: { name: 'onecycle', warmup: 3 } } }, 'job.yaml')),
    /job\.yaml: train\.schedule\.warmup \(3\) does not combine with the onecycle schedule, which warms up itself .*set train\.schedule\.warmup to 0/,
  );
  assert.match(
    configError(() =>
      validateJob({ train: { optimizer: 'sgd', momentum: 0, schedule: { name: 'onecycle' } } }, 'job.yaml'),
    ),
    /job\.yaml: the onecycle schedule cycles momentum, but train\.optimizer sgd has train\.momentum 0 .*set train\.momentum \(e\.g\. 0\.9\) or train\.schedule\.cycleMomentum to false/,
  );
  assert.match(
    configError(() => validateJob({ train: { schedule: { name: 'onecycle', pctStart: 1 } } }, 'job.yaml')),
    /train\.schedule\.pctStart must be .*got 1/,
  );
  assert.equal(
    validateJob({ train: { schedule: { name: 'onecycle', threePhase: true, pctStart: 0.4 } } }, 'job.yaml').train
      .schedule.threePhase,
    true,
  );
  assert.match(
    configError(() =>
      validateJob({ train: { schedule: { name: 'onecycle', threePhase: true, pctStart: 0.5 } } }, 'job.yaml'),
    ),
    /job\.yaml: with train\.schedule\.threePhase the climb and the way back down take 2 x pctStart \(0\.5\) of the cycle, leaving nothing for the final phase: set train\.schedule\.pctStart below 0\.5/,
  );
  assert.match(
    configError(() => validateJob({ train: { schedule: { name: 'onecycle', anneal: 'cosine' } } }, 'job.yaml')),
    /train\.schedule\.anneal must be one of 'cos', 'linear', got "cosine"/,
  );
  assert.match(
    configError(() => validateJob({ train: { schedule: { name: 'cosine-restarts', tMult: 0 } } }, 'job.yaml')),
    /train\.schedule\.tMult must be .*got 0/,
  );
});
