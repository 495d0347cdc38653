/**
 * Faults under `ringtrain launch` with restarts allowed: a worker SIGKILLed mid-epoch is
 * restarted and the ring re-forms around the survivors' live state; a SIGKILLed coordinator is
 * restarted on its port and picks the job up from its state file. Both jobs finish, and the
 * accuracy matches an undisturbed run.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { childPids, envOf, runCli, startCli, tempDir, waitFor } from './cli';

// Eight epochs: after a worker is replaced, the job must still be running when the test reads
// the coordinator's /metrics (with three, training had become fast enough to finish before the kill).
const JOB = ['--set', 'train.epochs=8', 'data.trainLimit=15000', 'data.testLimit=2000', 'cluster.maxRestarts=2'];

function finalVal(out: string): number {
  const lines = fs
    .readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { split: string; accuracy: number; epoch: number });
  const val = lines.filter((l) => l.split === 'val');
  return val[val.length - 1]!.accuracy;
}

function logEvents(file: string, event: string): Record<string, unknown>[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.includes(`"event":"${event}"`))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Kills the first child of `launcherPid` that `pick` selects, once rank 1 has trained a while. */
async function killMidRun(
  out: string,
  launcherPid: number,
  pick: (pid: number) => boolean,
  afterMs = 1500,
): Promise<void> {
  const rank1 = path.join(out, 'logs', 'rank 1.log');
  await waitFor(
    'rank 1 to train',
    () => (fs.existsSync(rank1) && fs.readFileSync(rank1, 'utf8').includes('"event":"joined"') ? true : undefined),
    60_000,
  );
  await new Promise((r) => setTimeout(r, afterMs));
  const victim = childPids(launcherPid).find(pick);
  assert.ok(victim !== undefined, 'no process to kill');
  process.kill(victim, 'SIGKILL');
}

test('a worker killed mid-epoch is replaced, the ring recovers in under 10 s, and accuracy matches an undisturbed run', async () => {
  const calm = tempDir('elastic-calm');
  const calmRun = await runCli(['launch', '--nproc', '3', ...JOB, '--out', calm], { timeoutMs: 180_000 });
  assert.equal(calmRun.code, 0, calmRun.stdout + calmRun.stderr);

  const out = tempDir('elastic-kill');
  const run = startCli(['launch', '--nproc', '3', ...JOB, '--out', out], { timeoutMs: 180_000 });
  await killMidRun(out, run.child.pid as number, (pid) => envOf(pid).RANK === '1');
  // While the job runs, the coordinator's /metrics reports the recovery.
  const coordLog = path.join(out, 'logs', 'coordinator.log');
  const metricsPort = (logEvents(coordLog, 'listening')[0] as { metricsPort: number }).metricsPort;
  const recovered = await waitFor(
    'the ring to re-form',
    () => logEvents(coordLog, 'ring-formed').find((e) => e.generation === 2),
    60_000,
  );
  const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const r = await run.result;
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /rank 1 \(pid \d+\) was killed by SIGKILL; restarting it \(restart 1 of 2\)/);
  assert.match(r.stdout, /epoch 8\/8/);
  const seconds = recovered.recoverySeconds as number;
  assert.ok(typeof seconds === 'number' && seconds < 10, `recovery took ${seconds} s`);
  assert.match(metrics, /^ringtrain_job_recovery_seconds \d/m);
  assert.match(metrics, /^ringtrain_job_restarts_total 1$/m);
  const delta = Math.abs(finalVal(out) - finalVal(calm)) * 100;
  assert.ok(
    delta <= 0.5,
    `accuracy ${finalVal(out)} vs undisturbed ${finalVal(calm)}: ${delta.toFixed(2)} points apart`,
  );
});

for (const transport of ['grpc', 'tcp'] as const) {
  test(`two ${transport} workers summing through a shared file: one killed mid-epoch is replaced, the survivor leaves its wait, and the new ring opens a new file`, async () => {
    const out = tempDir(`elastic-pair-${transport}`);
    // The whole training set for 20 epochs: two fused-step workers summing through a shared file
    // finished JOB's 15,000 x 6 before the kill, and the restarted rank found the job done.
    const run = startCli(
      [
        'launch',
        '--nproc',
        '2',
        ...JOB,
        'train.epochs=20',
        'data.trainLimit=0',
        `cluster.transport=${transport}`,
        '--out',
        out,
      ],
      { timeoutMs: 180_000 },
    );
    await killMidRun(out, run.child.pid as number, (pid) => envOf(pid).RANK === '1', 1000);
    const r = await run.result;
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /rank 1 \(pid \d+\) was killed by SIGKILL; restarting it \(restart 1 of 2\)/);
    assert.match(r.stdout, /epoch 20\/20/);
    // Rank 0 lived through both rings: it summed through a shared file in each, a new one for generation 2.
    const paths = logEvents(path.join(out, 'logs', 'rank 0.log'), 'allreduce-path').map((e) => [
      e.generation,
      String(e.msg).replace(/127\.0\.0\.1:\d+/, 'ADDR'),
    ]);
    assert.deepEqual(
      paths,
      [1, 2].map((g) => [
        g,
        'all-reduces with rank 1 at ADDR go through a shared file (up to 16 MiB each; larger ones as messages)',
      ]),
    );
    assert.deepEqual(
      fs.existsSync('/dev/shm') ? fs.readdirSync('/dev/shm').filter((f) => f.startsWith('ringtrain-')) : [],
      [],
      'no segment file left behind',
    );
    assert.ok(finalVal(out) > 0.9, `accuracy ${finalVal(out)}`);
  });
}

test('a coordinator killed mid-run is restarted on its port, recovers the job from its state file, and the job finishes', async () => {
  const out = tempDir('coord-kill');
  // An early kill, and the whole training set for 6 epochs, so the workers are still training
  // when the restarted coordinator comes back and must re-join it. (With JOB's 15,000 samples x 3
  // the two workers, summing through a shared file, finished before it was back.)
  const run = startCli(
    ['launch', '--nproc', '2', '--set', 'train.epochs=6', 'data.testLimit=2000', 'cluster.maxRestarts=2', '--out', out],
    { timeoutMs: 180_000 },
  );
  await killMidRun(
    out,
    run.child.pid as number,
    (pid) => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('coordinator'),
    200,
  );
  const r = await run.result;
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /coordinator \(pid \d+\) was killed by SIGKILL; restarting it/);
  assert.match(r.stdout, /epoch 6\/6/);
  const coordLog = path.join(out, 'logs', 'coordinator.log');
  assert.equal(logEvents(coordLog, 'recovered').length, 1, 'the restarted coordinator should have read its state file');
  const formed = logEvents(coordLog, 'ring-formed').map((e) => e.generation);
  assert.deepEqual(formed, [1, 2]);
  const state = JSON.parse(fs.readFileSync(path.join(out, 'coordinator-state.json'), 'utf8')) as {
    phase: string;
    generation: number;
  };
  assert.deepEqual([state.phase, state.generation], ['done', 2]);
  assert.ok(finalVal(out) > 0.85, `accuracy ${finalVal(out)}`);
});

test('the coordinator and every worker killed at once: the restarted job resumes from the last checkpoint and ends like an undisturbed run', async () => {
  const job = [
    '--nproc',
    '2',
    '--set',
    'train.epochs=3',
    'data.trainLimit=15000',
    'data.testLimit=2000',
    'cluster.maxRestarts=3',
  ];
  const calm = tempDir('allkill-calm');
  const calmRun = await runCli(['launch', ...job, '--out', calm], { timeoutMs: 180_000 });
  assert.equal(calmRun.code, 0, calmRun.stdout + calmRun.stderr);

  const out = tempDir('allkill');
  const run = startCli(['launch', ...job, '--out', out], { timeoutMs: 180_000 });
  const rank0 = path.join(out, 'logs', 'rank 0.log');
  const saved = await waitFor('the first checkpoint', () => logEvents(rank0, 'checkpoint')[0], 60_000);
  const victims = childPids(run.child.pid as number);
  assert.equal(victims.length, 3, 'a coordinator and two workers');
  for (const pid of victims) process.kill(pid, 'SIGKILL');
  const r = await run.result;
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /coordinator \(pid \d+\) was killed by SIGKILL; restarting it/);
  assert.match(r.stdout, /epoch 3\/3/);
  const coordLog = path.join(out, 'logs', 'coordinator.log');
  assert.equal(logEvents(coordLog, 'recovered').length, 1);
  assert.deepEqual(
    logEvents(coordLog, 'ring-formed').map((e) => e.generation),
    [1, 2],
  );
  // No process kept the state, so the new ring starts from the checkpoint rank 0 last wrote
  // (or a later one, if it wrote another before the kill landed).
  const resumed = logEvents(rank0, 'resumed');
  assert.equal(resumed.length, 1, 'rank 0 should have resumed once');
  assert.ok(
    (resumed[0]!.step as number) >= (saved.step as number),
    `resumed at step ${String(resumed[0]!.step)}, first checkpoint at ${String(saved.step)}`,
  );
  assert.equal(resumed[0]!.batchInEpoch, 0, 'epoch checkpoints resume at the start of an epoch');
  // Resuming is exact (weights, optimizer state, sampler position): the run ends where an
  // undisturbed one does.
  const delta = Math.abs(finalVal(out) - finalVal(calm)) * 100;
  assert.ok(
    delta <= 0.2,
    `accuracy ${finalVal(out)} vs undisturbed ${finalVal(calm)}: ${delta.toFixed(2)} points apart`,
  );
});
