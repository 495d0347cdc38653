/**
 * The training step as one unit (StepRunner), on two ranks over the in-memory ring: what it
 * returns, that every rank applies the same update, the non-finite guard, the native fused step
 * against the tfjs step, and that its time split comes from the injected clock.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Communicator, MemoryHub } from '../../src/allreduce';
import { selectBackend } from '../../src/compute';
import { lineAlignedFloats } from '../../src/native';
import type { Batch } from '../../src/data';
import { createLogger } from '../../src/observe';
import { FusedStep, ParamLayout, buildMlp, noDecayRanges, optimizerOf } from '../../src/train';
import type { Clock } from '../../src/worker/clock';
import { NonFiniteGuard } from '../../src/worker/nonfinite-guard';
import { StepClock } from '../../src/worker/step-clock';
import { StepRunner, type StepResult } from '../../src/worker/step-runner';
import type { TrainCounters } from '../../src/worker/train-state';
import { relativeDifference, specWith } from './train-harness';

const FEATURES = 6;
const CLASSES = 3;
const ROWS = 4;

/** Batch `b` of rank `r`: fixed numbers, different on every rank and batch; `poison` puts a NaN in. */
function batchOf(r: number, b: number, poison = false): Batch {
  const x = new Float32Array(ROWS * FEATURES).map((_, i) => Math.sin(1 + i * 0.37 + r * 1.9 + b * 0.71));
  if (poison) x[3] = NaN;
  const y = new Int32Array(ROWS).map((_, i) => (i + r + b) % CLASSES);
  return { x, y };
}

function counters(): TrainCounters {
  return {
    job: 't',
    epoch: 0,
    batchInEpoch: 0,
    step: 0,
    worldSize: 2,
    partial: [0, 0, 0],
    nonFiniteSkipped: 0,
    optimizer: { name: 'sgd', steps: 0 },
    schedule: {},
    earlyStopping: { best: 0, bestEpoch: 0, wait: 0 },
    paramShapes: [],
  };
}

/** A clock whose every reading is 1 ms after the last: no real time can be mistaken for it. */
function steppingClock(): Clock {
  let ns = 0n;
  return { ns: () => (ns += 1_000_000n), ms: () => Number(ns) / 1e6, sleep: () => Promise.resolve() };
}

interface StepRun {
  results: StepResult[];
  before: Float32Array;
  after: Float32Array[];
  counters: TrainCounters[];
  seconds: { data: number; compute: number; communication: number; update: number }[];
  fused: boolean[];
}

/** One optimizer step of `micro` micro-batches on two ranks that start from the same weights. */
async function step(o: { fused: boolean; micro: number; poisonRank?: number; clock?: Clock }): Promise<StepRun> {
  await selectBackend('wasm');
  const spec = specWith({ train: { fusedStep: o.fused ? 'auto' : 'off', nonFinite: 'skip', clipNorm: 0.5, lr: 0.1 } });
  const hub = new MemoryHub('t', 2, 10_000);
  const models = [0, 1].map(() => buildMlp({ ...spec.model, hidden: [8] }, FEATURES, CLASSES, 7));
  const layouts = models.map((m) => ParamLayout.ofModel(m));
  const before = new Float32Array((layouts[0] as ParamLayout).size);
  (layouts[0] as ParamLayout).readWeights(before);
  const runs = hub.endpoints().map(async (transport, rank) => {
    const model = models[rank]!;
    const layout = layouts[rank]!;
    const comm = new Communicator(transport, {});
    const params = lineAlignedFloats(layout.size);
    params.set(before);
    layout.writeWeights(params);
    const fused = o.fused ? FusedStep.of(model, layout, {}).step : undefined;
    const log = createLogger({
      job: 't',
      role: 'worker',
      rank,
      level: 'error',
      destination: { write: () => undefined },
    });
    const runner = await StepRunner.allocate({
      comm,
      model,
      layout,
      buffers: ParamLayout.buffersOf(model),
      params,
      mask: undefined,
      optimizer: optimizerOf(spec.train, layout.size, noDecayRanges(spec.train, layout.slots)),
      fused,
      lossOptions: { labelSmoothing: 0 },
      weighted: false,
      clipNorm: spec.train.clipNorm,
      accumulate: o.micro,
      guard: new NonFiniteGuard(spec.train, rank, log),
    });
    runner.reset();
    const c = counters();
    const clock = new StepClock(undefined, false, o.clock);
    const result = await runner.run({
      from: 0,
      to: o.micro,
      rows: () => ROWS,
      batchCount: o.micro + 1,
      batches: { get: (b) => batchOf(rank, b, rank === o.poisonRank && b === 0), prepare: () => undefined },
      epoch: 0,
      counters: c,
      lr: 0.1,
      momentum: undefined,
      clock,
    });
    runner.syncModel();
    const after = new Float32Array(layout.size);
    layout.readWeights(after);
    model.dispose();
    return { result, after, c, seconds: clock.endStep().seconds, fused: fused !== undefined };
  });
  const done = await Promise.all(runs);
  return {
    results: done.map((d) => d.result),
    before,
    after: done.map((d) => d.after),
    counters: done.map((d) => d.c),
    seconds: done.map((d) => d.seconds),
    fused: done.map((d) => d.fused),
  };
}

test('a step of two micro-batches returns the global loss and train sums, and every rank applies the same update', async () => {
  const run = await step({ fused: false, micro: 2 });
  const [r0, r1] = run.results as [StepResult, StepResult];
  assert.equal(r0.applied, true);
  assert.equal(r0.micro, 2);
  assert.equal(r0.rows, 2 * ROWS, 'this rank trained two micro-batches');
  assert.ok(Number.isFinite(r0.loss) && r0.loss > 0, `loss ${r0.loss}`);
  assert.equal(r0.loss, r1.loss, 'the loss is the all-reduced one on both ranks');
  assert.equal(r0.norm, r1.norm);
  assert.deepEqual(r0.global, r1.global);
  assert.equal(r0.global[2], 4 * ROWS, 'rows over both ranks');
  assert.equal(r0.global[1], r0.correct + r1.correct, 'correct predictions over both ranks');
  assert.ok(
    Math.abs(r0.global[0] - (r0.lossSum + r1.lossSum)) < 1e-4 * r0.global[0],
    `loss x rows ${r0.global[0]} vs ${r0.lossSum + r1.lossSum}`,
  );
  // clipNorm 0.5 under a norm above it: the step says so.
  assert.equal(r0.clipped, r0.norm > 0.5);
  assert.deepEqual(run.after[0], run.after[1], 'replicas are bit-identical after the step');
  assert.ok(relativeDifference(run.after[0] as Float32Array, run.before) > 1e-4, 'the weights moved');
});

test("a NaN in one rank's micro-batch makes every rank skip the update and count it", async () => {
  const run = await step({ fused: false, micro: 2, poisonRank: 1 });
  for (const [rank, r] of run.results.entries()) {
    assert.equal(r.applied, false, `rank ${rank} applied a non-finite step`);
    assert.equal(r.clipped, false);
    assert.ok(!Number.isFinite(r.loss) || !Number.isFinite(r.norm));
    assert.equal(run.counters[rank]?.nonFiniteSkipped, 1);
    assert.deepEqual(run.after[rank], run.before, `rank ${rank}'s weights moved`);
  }
});

test('the native fused step and the tfjs step take the same step', async (t) => {
  const fused = await step({ fused: true, micro: 2 });
  if (!fused.fused[0]) return t.skip('the native fused step is not available here (addon not built)');
  const tfjs = await step({ fused: false, micro: 2 });
  assert.deepEqual(fused.after[0], fused.after[1], 'fused replicas are bit-identical');
  const diff = relativeDifference(fused.after[0] as Float32Array, tfjs.after[0] as Float32Array);
  assert.ok(diff < 1e-5, `fused and tfjs weights differ by ${diff}`);
  assert.ok(Math.abs((fused.results[0] as StepResult).loss - (tfjs.results[0] as StepResult).loss) < 1e-5);
  assert.equal((fused.results[0] as StepResult).global[2], (tfjs.results[0] as StepResult).global[2]);
});

test("the step's time split is read off the injected clock only", async () => {
  const run = await step({ fused: false, micro: 2, clock: steppingClock() });
  for (const s of run.seconds) {
    for (const [phase, v] of Object.entries(s)) {
      const ms = v * 1000;
      assert.ok(Math.abs(ms - Math.round(ms)) < 1e-6, `${phase} took ${ms} ms: not whole ticks of the injected clock`);
    }
    assert.ok(s.data >= 0.002, `two micro-batches' data reads span at least one tick each (${s.data} s)`);
    assert.ok(s.compute >= 0.002 && s.update >= 0.001, JSON.stringify(s));
  }
});
