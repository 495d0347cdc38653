import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../src/compute';
import { loadMnist, readRows } from '../../src/data';
import { allowedCpus, coreOrder, planCpuSets } from '../../src/launcher';
import { cpuBindingUnavailable, formatCpuList, threadCpuLists } from '../../src/native';
import { loadModelFromDir } from '../../src/train';
import { QUICK, childPids, isAlive, runCli, startCli, tempDir, waitFor } from './cli';
import { expectedNativeKernels } from '../unit/support';

test('ringtrain launch --nproc 2 trains one epoch and leaves metrics.jsonl and a loadable model', async () => {
  const testStarted = Date.now();
  const out = tempDir('launch');
  const r = await runCli(
    [
      'launch',
      '--nproc',
      '2',
      '--trace',
      path.join(out, 'trace.json'),
      '--set',
      'train.epochs=1',
      ...QUICK,
      '--out',
      out,
    ],
    { timeoutMs: 120_000 },
  );
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /epoch 1\/1 {2}train loss \d+\.\d{4} acc \d+\.\d{2}% {2}val loss \d+\.\d{4} acc \d+\.\d{2}%/);
  assert.match(r.stdout, /training finished/);
  // Output for people, as CI logs see it: no escape codes.
  assert.doesNotMatch(r.stdout, /\u001b\[/);

  const lines = fs
    .readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(
    lines.map((l) => [l.epoch, l.split]),
    [
      [1, 'train'],
      [1, 'val'],
    ],
  );
  for (const l of lines) {
    assert.ok(typeof l.loss === 'number' && l.loss > 0 && l.loss < 3, `loss ${l.loss}`);
    assert.ok(typeof l.accuracy === 'number' && l.accuracy > 0.5 && l.accuracy <= 1, `accuracy ${l.accuracy}`);
    assert.ok(typeof l.samplesPerSec === 'number' && l.samplesPerSec > 0);
  }

  // The saved model is TensorFlow.js LayersModel format and reproduces the reported accuracy.
  await selectBackend('wasm');
  const model = await loadModelFromDir(path.join(out, 'model'));
  const { test: testSet } = loadMnist({ testLimit: 1000, trainLimit: 1 });
  const acc = tf.tidy(() => {
    const logits = model.predict(tf.tensor2d(readRows(testSet, 0, testSet.count), [testSet.count, 784])) as tf.Tensor2D;
    assert.deepEqual(logits.shape, [1000, 10]);
    return tf
      .mean(tf.cast(tf.equal(tf.argMax(logits, 1), tf.tensor1d(testSet.labels, 'int32')), 'float32'))
      .dataSync()[0] as number;
  });
  model.dispose();
  assert.ok(
    Math.abs(acc - (lines[1]!.accuracy as number)) < 1e-6,
    `saved model accuracy ${acc} vs reported ${lines[1]!.accuracy}`,
  );
  assert.ok(
    fs.existsSync(path.join(out, 'logs', 'rank 0.log')) && fs.existsSync(path.join(out, 'logs', 'coordinator.log')),
  );
  // Workers run V8's GC on their own thread (launch's flag) and name the kernels they run.
  const backendLine = fs
    .readFileSync(path.join(out, 'logs', 'rank 0.log'), 'utf8')
    .split('\n')
    .find((l) => l.includes('compute backend'));
  assert.ok(backendLine !== undefined, 'rank 0 logged no compute backend line');
  assert.deepEqual(
    (({ gc, kernels }) => ({ gc, kernels }))(JSON.parse(backendLine) as { gc: string; kernels: string }),
    { gc: 'single-threaded', kernels: expectedNativeKernels() },
  );
  // --trace: every rank's steps in one Chrome trace, each rank its own process track; the
  // communication of a step shows as the wait for the peer (when there was one), then the exchange.
  interface Ev {
    name: string;
    ph: string;
    pid: number;
    tid: number;
    ts: number;
    dur: number;
    cat?: string;
    args?: { step?: number };
  }
  const trace = JSON.parse(fs.readFileSync(path.join(out, 'trace.json'), 'utf8')) as Ev[];
  assert.deepEqual(
    fs.readdirSync(out).filter((f) => f.includes('.part')),
    [],
    'the per-rank parts are merged and removed',
  );
  const stepsPerRank = Math.ceil(4000 / 2 / 64);
  for (const rank of [0, 1]) {
    const steps = trace.filter((e) => e.ph === 'X' && e.pid === rank && e.cat === 'step');
    for (const name of ['data', 'compute', 'send gradients', 'exchange', 'update'])
      assert.equal(steps.filter((e) => e.name === name).length, stepsPerRank, `rank ${rank} ${name}`);
    // The next batch is prepared during every step but the epoch's last.
    assert.equal(steps.filter((e) => e.name === 'prepare next batch').length, stepsPerRank - 1);
    assert.ok(steps.filter((e) => e.name === 'wait for peers').length <= stepsPerRank);
    const first = steps.filter((e) => e.args?.step === 1).map((e) => e.name);
    assert.deepEqual(
      first.filter((n) => n !== 'wait for peers'),
      ['data', 'compute', 'send gradients', 'prepare next batch', 'exchange', 'update'],
      `rank ${rank} step 1: ${first.join(', ')}`,
    );
    // Real times, one thing at a time: in file order, each stretch starts after the one before
    // it ended (1 us of rounding), and steps follow each other.
    for (let i = 1; i < steps.length; i++) {
      const [a, b] = [steps[i - 1] as Ev, steps[i] as Ev];
      assert.ok(
        b.ts >= a.ts + a.dur - 1,
        `rank ${rank} ${a.name} (step ${a.args?.step}) overlaps ${b.name} (step ${b.args?.step})`,
      );
      assert.ok(
        (b.args?.step ?? 0) >= (a.args?.step ?? 0),
        `rank ${rank}: step ${b.args?.step} after step ${a.args?.step}`,
      );
    }
    assert.ok(
      steps.every((e) => e.dur >= 0 && e.ts >= testStarted * 1000 && e.ts <= Date.now() * 1000),
      `rank ${rank}: a step outside the run's wall time`,
    );
    assert.ok(trace.some((e) => e.ph === 'M' && e.pid === rank && e.name === 'process_name'));
  }
});

// --cpu-bind cores needs the native addon and a CPU per worker; this machine has both when CI runs.
const bindSkip = cpuBindingUnavailable() ?? (allowedCpus().length < 2 ? 'fewer than 2 CPUs' : false);

test('launch --cpu-bind cores keeps each worker, every thread of it, on its own CPU', { skip: bindSkip }, async () => {
  const out = tempDir('cpu-bind');
  const run = startCli(
    [
      'launch',
      '--nproc',
      '2',
      '--cpu-bind',
      'cores',
      '--set',
      'train.epochs=50',
      'data.trainLimit=8000',
      'data.testLimit=500',
      '--out',
      out,
    ],
    { timeoutMs: 120_000 },
  );
  const rank1Log = path.join(out, 'logs', 'rank 1.log');
  await waitFor(
    'rank 1 to start training',
    () =>
      fs.existsSync(rank1Log) && fs.readFileSync(rank1Log, 'utf8').includes('"event":"joined"') ? true : undefined,
    60_000,
  );
  const workers = childPids(run.child.pid as number).filter((pid) =>
    fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('worker'),
  );
  assert.equal(workers.length, 2);
  // Read from the kernel, not from the workers' own word: each worker's threads share one list.
  const lists = workers.map((pid) => threadCpuLists(pid));
  for (const l of lists) assert.equal(l.length, 1, `a worker's threads run on different CPU sets: ${l.join(' / ')}`);
  const cpus = lists.map((l) => l[0] as string).sort();
  // The plan itself is unit-tested (launcher-cpu-plan); here the kernel must hold what it says.
  assert.deepEqual(cpus, planCpuSets(2, coreOrder(allowedCpus())).map(formatCpuList).sort());
  assert.notEqual(cpus[0], cpus[1]);
  process.kill(run.child.pid as number, 'SIGTERM');
  const r = await run.result;
  assert.match(r.stdout, /starting 2 workers on CPUs \S+ \| \S+;/);
  for (const pid of workers) assert.equal(isAlive(pid), false, `worker ${pid} outlived the launcher`);
});

test('a worker killed mid-run makes the launcher stop the others and name the dead rank', async () => {
  const out = tempDir('kill');
  const run = startCli(
    ['launch', '--nproc', '2', '--set', 'train.epochs=50', 'data.trainLimit=8000', 'data.testLimit=500', '--out', out],
    { timeoutMs: 120_000 },
  );
  const launcherPid = run.child.pid as number;
  const rank1Log = path.join(out, 'logs', 'rank 1.log');
  await waitFor(
    'rank 1 to start training',
    () =>
      fs.existsSync(rank1Log) && fs.readFileSync(rank1Log, 'utf8').includes('"event":"joined"') ? true : undefined,
    60_000,
  );
  await new Promise((r) => setTimeout(r, 1000));
  const children = childPids(launcherPid);
  assert.equal(children.length, 3, `expected coordinator + 2 workers, found ${children.length}`);
  const rank1 = children.find((pid) => fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes('RANK=1'));
  assert.ok(rank1 !== undefined, 'rank 1 process not found');
  const killedAt = Date.now();
  process.kill(rank1, 'SIGKILL');
  const r = await run.result;
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /rank 1 \(pid \d+\) was killed by SIGKILL/);
  assert.ok(Date.now() - killedAt < 15_000, `launcher took ${Date.now() - killedAt} ms to stop`);
  for (const pid of children) assert.equal(isAlive(pid), false, `process ${pid} outlived the launcher`);
});

test('SIGTERM to the launcher stops every child and exits non-zero', async () => {
  const out = tempDir('term');
  const run = startCli(
    ['launch', '--nproc', '2', '--set', 'train.epochs=50', 'data.trainLimit=8000', 'data.testLimit=500', '--out', out],
    { timeoutMs: 120_000 },
  );
  const launcherPid = run.child.pid as number;
  const rank0Log = path.join(out, 'logs', 'rank 0.log');
  await waitFor(
    'rank 0 to join',
    () =>
      fs.existsSync(rank0Log) && fs.readFileSync(rank0Log, 'utf8').includes('"event":"joined"') ? true : undefined,
    60_000,
  );
  const children = childPids(launcherPid);
  run.child.kill('SIGTERM');
  const r = await run.result;
  assert.equal(r.code, 143, r.stdout + r.stderr);
  assert.match(r.stdout, /interrupted by SIGTERM/);
  for (const pid of children) assert.equal(isAlive(pid), false, `process ${pid} outlived the launcher`);
});
