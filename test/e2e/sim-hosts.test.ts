import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hostsUp, listNamespaces, netnsRefusal } from '../../bench/sim-hosts';
import { launchAcross, oneWorkerIn, steadySamplesPerSec } from '../../bench/hosts-run';
import { stepSeconds } from '../../bench/scaling-model';
import { DEFAULT_CALIBRATION, firstHosts, readCalibration } from '../../bench/scaling-model-cli';
import { runCli, startCli, tempDir, waitFor } from './cli';

const JOB = ['train.epochs=1', 'data.trainLimit=960', 'data.testLimit=100'];
const refusal = netnsRefusal();
if (refusal !== undefined) process.stdout.write(`# skipping the simulated-host tests: ${refusal}\n`);

const ours = (prefix: string): string[] => listNamespaces().filter((n) => n.startsWith(prefix));

test('a 3-host ring over network namespaces trains the same weights as --nproc 3 on one host', { skip: refusal }, async () => {
  const dir = tempDir('hosts3');
  const h = hostsUp(3, 1000);
  try {
    assert.equal(ours(h.prefix).length, 4, 'three hosts and the switch');
    const run = await launchAcross(h, 1, JOB, dir, 180_000);
    assert.match(run.outputs[0] as string, /node 0 of 3, coordinator listening on 10\.213\.0\.1:\d+, starting 1 worker \(rank 0 of 3\)/);
    assert.match(run.outputs[2] as string, /node 2 of 3, coordinator at 10\.213\.0\.1:\d+, starting 1 worker \(rank 2 of 3\)/);
    // The ring's members are the three hosts' addresses: the gradients crossed the links.
    const joined = fs.readFileSync(path.join(run.outDir, 'logs', 'rank 0.log'), 'utf8').split('\n').find((l) => l.includes('"event":"joined"')) ?? '';
    for (const host of ['10.213.0.1', '10.213.0.2', '10.213.0.3']) assert.ok(joined.includes(`${host}:`), `rank 0 joined a ring without ${host}: ${joined}`);
    const one = await runCli(['launch', '--nproc', '3', '--out', path.join(dir, 'one'), '--set', ...JOB], { timeoutMs: 180_000 });
    assert.equal(one.code, 0, one.stderr + one.stdout);
    const a = fs.readFileSync(path.join(run.outDir, 'model', 'weights.bin'));
    const b = fs.readFileSync(path.join(dir, 'one', 'model', 'weights.bin'));
    assert.ok(a.length > 400_000 && a.equals(b), 'the 3-host model differs from the --nproc 3 model');
  } finally {
    h.down();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(ours(h.prefix), [], 'no namespace is left behind');
});

test('ringtrain bench hosts, interrupted mid-run, removes its namespaces and stops its jobs', { skip: refusal }, async () => {
  const cli = startCli(['bench', 'hosts', '--rates', '100', '--models', 'mlp', '--transports', 'grpc', '--no-torch'], { timeoutMs: 120_000 });
  let printed = '';
  cli.child.stdout?.on('data', (d: Buffer) => (printed += d.toString()));
  const prefix = await waitFor('the bench to report its namespaces', () => /namespaces (rthosts-\d+-)/.exec(printed)?.[1], 60_000);
  await waitFor('a job in the simulated hosts', () => (ours(prefix).length === 3 ? true : undefined), 30_000);
  cli.child.kill('SIGINT');
  const r = await cli.result;
  assert.equal(r.code, 130, r.stderr + r.stdout);
  assert.deepEqual(ours(prefix), [], 'the interrupted bench left namespaces behind');
});

test('the scaling model predicts 2- and 3-host MLP steps over 10 Mbit/s links within 20%', { skip: refusal }, async () => {
  // A slow link, so the prediction rests on the link and the ring's 2(n-1)/n rather than on this
  // shared machine's CPU, whose scheduling delays move a fast step by more than 20%.
  const c = readCalibration(DEFAULT_CALIBRATION);
  const mlp = c.models.find((m) => m.name === 'mlp');
  assert.ok(mlp !== undefined, 'the calibration has the mlp');
  const dir = tempDir('model');
  const h = hostsUp(3, 10);
  try {
    const alone = await oneWorkerIn(h, ['model.kind=mlp', 'data.trainLimit=3200', 'train.epochs=3', 'data.testLimit=100'], path.join(dir, 'one'), 120_000);
    const stepSec = 64 / steadySamplesPerSec(alone, 1);
    for (const nodes of [2, 3]) {
      const run = await launchAcross(firstHosts(h, nodes), 1, ['model.kind=mlp', `data.trainLimit=${12 * 64 * nodes}`, 'train.epochs=3', 'data.testLimit=100'], path.join(dir, `n${nodes}`), 180_000);
      const measured = (64 * nodes) / steadySamplesPerSec(run.outDir, 1);
      const predicted = stepSeconds({ ...mlp, stepSec }, { nodes, linkBitsPerSec: 10e6, bucketBytes: 25 * 1024 * 1024, overlap: false }, c.link);
      const off = Math.abs(predicted - measured) / measured;
      process.stdout.write(`${nodes} hosts at 10 Mbit/s: measured ${(measured * 1000).toFixed(1)} ms/step, predicted ${(predicted * 1000).toFixed(1)} (${(100 * off).toFixed(0)}% off)\n`);
      assert.ok(off <= 0.2, `${nodes} hosts: predicted ${(predicted * 1000).toFixed(1)} ms per step, measured ${(measured * 1000).toFixed(1)}`);
    }
  } finally {
    h.down();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(ours(h.prefix), []);
});
