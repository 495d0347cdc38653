/**
 * What a training step builds every step keeps one hidden class. V8 gives an object spread
 * followed by more properties (`{ ...range, rows: f }`) a fresh hidden class each time, and
 * those outlived young-generation collections: a one-worker MLP job promoted about 20 MB and
 * paused 48 ms more per 6400 steps, and in a ring every rank's pause stalls the others. V8's
 * %HaveSameMap answers only under --allow-natives-syntax, so a child process checks it.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const script = (harness: string, runner: string): string => `
const H = require(${JSON.stringify(harness)});
const { StepRunner } = require(${JSON.stringify(runner)});
const same = new Function('a', 'b', 'return %HaveSameMap(a, b)');
const inputs = [];
const losses = [];
const run = StepRunner.prototype.run;
StepRunner.prototype.run = function (s) { inputs.push(s); return run.call(this, s); };
const lossFor = StepRunner.prototype.lossFor;
StepRunner.prototype.lossFor = function (b) { const l = lossFor.call(this, b); losses.push(l); return l; };
(async () => {
  const data = await H.mnistSlice(4096, 50);
  const spec = H.specWith({ data: { batchSize: 64 }, train: { epochs: 3 } });
  const [r] = await H.trainRanks({ world: 1, spec, data });
  if (r.error) throw r.error;
  console.log(JSON.stringify({ steps: inputs.length, losses: losses.length, inputs: same(inputs[150], inputs[190]), loss: same(losses[150], losses[190]) }));
})().catch((e) => { console.error(e); process.exit(1); });
`;

test("a step's input and its loss options keep one hidden class from step to step", () => {
  const harness = path.join(__dirname, 'train-harness.js');
  const runner = path.join(__dirname, '../../src/worker/step-runner.js');
  const child = spawnSync(process.execPath, ['--allow-natives-syntax', '-e', script(harness, runner)], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(child.status, 0, child.stderr);
  const seen = JSON.parse(child.stdout.trim().split('\n').pop() as string) as Record<string, unknown>;
  assert.equal(seen.steps, 192, 'the job runs 3 epochs of 4096 / 64 steps');
  assert.equal(seen.losses, 192);
  assert.equal(seen.inputs, true, 'StepInput objects of two steps have different hidden classes');
  assert.equal(seen.loss, true, 'loss options of two steps have different hidden classes');
});
