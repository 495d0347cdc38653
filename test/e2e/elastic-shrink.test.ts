/**
 * A ring allowed to shrink (cluster.minWorkers below the world size) goes on with the survivors
 * when a member is lost and nobody replaces it: by hand (no launcher at all) and under `launch`
 * with a worker frozen by SIGSTOP and cluster.restartWorkers=false.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { childPids, envOf, startCli, tempDir, waitFor, type RunningCli } from './cli';
import { finalVal, logEvents } from './fault-tools';

const ELASTIC = ['cluster.maxRestarts=2', 'cluster.minWorkers=2', 'data.testLimit=1000', 'cluster.lastCallSec=1'];

test('hand-started: coordinator and three workers, one SIGKILLed and never replaced; the other two re-form as a 2-rank ring and finish', async () => {
  const out = tempDir('shrink-hand');
  const env = { RINGTRAIN_JOIN_TOKEN: 'shrink-token' };
  const coordinator = startCli(
    [
      'coordinator',
      '--world-size',
      '3',
      '--port',
      '0',
      '--host',
      '127.0.0.1',
      '--set',
      ...ELASTIC,
      'train.epochs=6',
      'data.trainLimit=12000',
    ],
    { timeoutMs: 170_000, env },
  );
  let coordErr = '';
  coordinator.child.stderr?.on('data', (d: Buffer) => (coordErr += d.toString()));
  const port = await waitFor('the coordinator port', () => /"grpcPort":(\d+)/.exec(coordErr)?.[1], 60_000);
  const workers: RunningCli[] = [0, 1, 2].map((rank) =>
    startCli(
      [
        'worker',
        '--coordinator',
        `127.0.0.1:${port}`,
        '--rank',
        String(rank),
        '--out',
        out,
        '--set',
        ...ELASTIC,
        'train.epochs=6',
        'data.trainLimit=12000',
      ],
      { timeoutMs: 170_000, env },
    ),
  );
  const errs = workers.map(() => '');
  workers.forEach((w, i) => w.child.stderr?.on('data', (d: Buffer) => (errs[i] += d.toString())));
  try {
    await waitFor('rank 2 to train an epoch', () => (/"event":"epoch"/.test(errs[0] ?? '') ? true : undefined), 90_000);
    workers[2]!.child.kill('SIGKILL');
    const [c, w0, w1] = await Promise.all([coordinator.result, workers[0]!.result, workers[1]!.result]);
    assert.equal(c.code, 0, coordErr.slice(-3000));
    assert.equal(w0.code, 0, (errs[0] ?? '').slice(-3000));
    assert.equal(w1.code, 0, (errs[1] ?? '').slice(-3000));
    const formed = coordErr
      .split('\n')
      .filter((l) => l.includes('"event":"ring-formed"'))
      .map((l) => JSON.parse(l) as { generation: number; ring: unknown[] });
    assert.deepEqual(
      formed.map((f) => [f.generation, f.ring.length]),
      [
        [1, 3],
        [2, 2],
      ],
    );
    // The survivors know the ring they are in: 2 ranks, not the 3 of the job file.
    const joinedGen2 = (errs[0] ?? '')
      .split('\n')
      .filter((l) => l.includes('"event":"joined"') && l.includes('"generation":2'));
    assert.equal(joinedGen2.length, 1);
    assert.match(joinedGen2[0]!, /joined as rank 0 of 2/);
    assert.match(errs[0] ?? '', /"event":"epoch","epoch":6/);
    assert.ok(finalVal(out) > 0.85, `accuracy ${finalVal(out)}`);
  } finally {
    for (const w of [coordinator, ...workers])
      if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
  }
});

// cluster.restartWorkers=false: the launcher leaves a lost worker out instead of restarting it
// (hung-processes.test.ts holds the restart), so the ring must shrink and nothing is restarted.
test('launch: a SIGSTOPped worker of an elastic ring is killed and left out, the ring re-forms as 2 and finishes with replicas identical', async () => {
  const out = tempDir('shrink-launch');
  const job = [
    ...ELASTIC,
    'cluster.restartWorkers=false',
    'cluster.leaseTimeoutSec=3',
    'train.epochs=20',
    'data.trainLimit=12000',
  ];
  const run = startCli(['launch', '--nproc', '3', '--set', ...job, '--out', out], { timeoutMs: 170_000 });
  const log = (name: string): string => path.join(out, 'logs', `${name}.log`);
  let stopped: number | undefined;
  try {
    await waitFor(
      'rank 0 to finish an epoch',
      () => (logEvents(log('rank 0'), 'epoch').length > 0 ? true : undefined),
      90_000,
    );
    stopped = childPids(run.child.pid as number).find((pid) => envOf(pid).RANK === '2');
    assert.ok(stopped !== undefined, 'rank 2 not found');
    process.kill(stopped, 'SIGSTOP');
    const r = await run.result;
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /epoch 20\/20/);
    assert.match(
      r.stdout,
      new RegExp(
        `the coordinator declared rank 2 \\(pid ${stopped}\\) lost: .*; killing it \\(cluster\\.restartWorkers=false`,
      ),
    );
    assert.match(r.stdout, new RegExp(`rank 2 \\(pid ${stopped}\\) was killed by SIGKILL; not restarting it`));
    assert.doesNotMatch(r.stdout, /restarting it \(restart/, 'the launcher restarted nothing');
    const formed = logEvents(log('coordinator'), 'ring-formed').map(
      (e) => [e.generation, (e.ring as { workerId: string }[]).map((p) => p.workerId)] as const,
    );
    assert.deepEqual(
      formed.map(([g, ring]) => [g, ring.length]),
      [
        [1, 3],
        [2, 2],
      ],
      'one shrink, and no worker came back',
    );
    assert.ok(!formed[1]![1].some((id) => id.endsWith(`-${stopped}`)), JSON.stringify(formed[1]));
    // Both survivors know the ring's own size, finished in it and hold the same weights.
    const finished = ['rank 0', 'rank 1'].map((name) => {
      const joined = logEvents(log(name), 'joined').filter((e) => e.generation === 2);
      assert.equal(joined.length, 1, name);
      assert.match(String(joined[0]!.msg), new RegExp(`joined as rank ${name.slice(-1)} of 2$`));
      const done = logEvents(log(name), 'finished');
      assert.equal(done.length, 1, name);
      return done[0]!;
    });
    assert.deepEqual(
      finished.map((f) => f.worldSize),
      [2, 2],
    );
    assert.match(String(finished[0]!.weightsSha256), /^[0-9a-f]{64}$/);
    assert.equal(finished[1]!.weightsSha256, finished[0]!.weightsSha256, 'the replicas differ');
    assert.equal(logEvents(log('rank 2'), 'finished').length, 0);
    assert.ok(finalVal(out) > 0.85, `accuracy ${finalVal(out)}`);
  } finally {
    if (stopped !== undefined) {
      try {
        process.kill(stopped, 'SIGKILL');
      } catch {
        // Already gone: the launcher killed it, as it should.
      }
    }
  }
});
