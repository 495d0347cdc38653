/**
 * What a training step builds every step, and what every all-reduce message makes, keeps one
 * hidden class. V8 gives an object spread
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

/** Two gRPC ranks in one process all-reduce 300 times; every message the mailbox is handed is kept. */
const ringScript = (allreduce: string): string => `
const A = require(${JSON.stringify(allreduce)});
const { Mailbox } = require(${JSON.stringify(allreduce + '/mailbox')});
const same = new Function('a', 'b', 'return %HaveSameMap(a, b)');
const arrivals = [];
const deliver = Mailbox.prototype.deliver;
Mailbox.prototype.deliver = function (a) { arrivals.push(a); return deliver.call(this, a); };
(async () => {
  const servers = [0, 1].map(() => new A.CollectiveServer('job', 5000));
  const ports = await Promise.all(servers.map((s) => s.listen('127.0.0.1', 0)));
  const addresses = ports.map((p) => '127.0.0.1:' + p);
  const transports = servers.map((s, rank) => new A.GrpcTransport({ job: 'job', generation: 1, rank, worldSize: 2 }, s, addresses));
  const comms = transports.map((t) => new A.Communicator(t));
  for (let i = 0; i < 300; i++) await Promise.all(comms.map((c) => c.allReduceSum(new Float32Array(4096).fill(1))));
  await Promise.all(transports.map((t) => t.close()));
  await Promise.all(servers.map((s) => s.close()));
  console.log(JSON.stringify({ arrivals: arrivals.length, same: same(arrivals[arrivals.length - 100], arrivals[arrivals.length - 1]) }));
})().catch((e) => { console.error(e); process.exit(1); });
`;

test('every message a gRPC ring hands its mailbox keeps one hidden class', () => {
  const allreduce = path.join(__dirname, '../../src/allreduce');
  const child = spawnSync(process.execPath, ['--allow-natives-syntax', '-e', ringScript(allreduce)], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(child.status, 0, child.stderr);
  const seen = JSON.parse(child.stdout.trim().split('\n').pop() as string) as Record<string, unknown>;
  assert.ok((seen.arrivals as number) >= 600, `arrivals ${String(seen.arrivals)}`);
  assert.equal(seen.same, true, 'two arrivals have different hidden classes');
});
