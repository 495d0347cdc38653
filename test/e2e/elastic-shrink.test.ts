/**
 * A ring allowed to shrink (cluster.minWorkers below the world size) goes on with the survivors
 * when a member is lost and nobody replaces it: by hand (no launcher at all) and under `launch`
 * with a worker frozen by SIGSTOP.
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
  const coordinator = startCli(['coordinator', '--world-size', '3', '--port', '0', '--host', '127.0.0.1', '--set', ...ELASTIC, 'train.epochs=6', 'data.trainLimit=12000'], { timeoutMs: 170_000, env });
  let coordErr = '';
  coordinator.child.stderr?.on('data', (d: Buffer) => (coordErr += d.toString()));
  const port = await waitFor('the coordinator port', () => /"grpcPort":(\d+)/.exec(coordErr)?.[1], 60_000);
  const workers: RunningCli[] = [0, 1, 2].map((rank) =>
    startCli(['worker', '--coordinator', `127.0.0.1:${port}`, '--rank', String(rank), '--out', out, '--set', ...ELASTIC, 'train.epochs=6', 'data.trainLimit=12000'], { timeoutMs: 170_000, env }),
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
    const formed = coordErr.split('\n').filter((l) => l.includes('"event":"ring-formed"')).map((l) => JSON.parse(l) as { generation: number; ring: unknown[] });
    assert.deepEqual(formed.map((f) => [f.generation, f.ring.length]), [[1, 3], [2, 2]]);
    // The survivors know the ring they are in: 2 ranks, not the 3 of the job file.
    const joinedGen2 = (errs[0] ?? '').split('\n').filter((l) => l.includes('"event":"joined"') && l.includes('"generation":2'));
    assert.equal(joinedGen2.length, 1);
    assert.match(joinedGen2[0]!, /joined as rank 0 of 2/);
    assert.match(errs[0] ?? '', /"event":"epoch","epoch":6/);
    assert.ok(finalVal(out) > 0.85, `accuracy ${finalVal(out)}`);
  } finally {
    for (const w of [coordinator, ...workers]) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
  }
});

// Under launch the stopped worker is also killed and restarted (hung-processes.test.ts): whether
// its replacement starts in time for generation 2 or joins at the next epoch boundary is a race,
// so this test holds that every ring, of either size, knows its own size and that the job
// finishes; the hand-started test above holds the shrink itself.
test('launch: a SIGSTOPped worker of an elastic ring is dropped, the ring re-forms around the others, and the job finishes', async () => {
  const out = tempDir('shrink-launch');
  const run = startCli(['launch', '--nproc', '3', '--set', ...ELASTIC, 'train.epochs=6', 'data.trainLimit=12000', '--out', out], { timeoutMs: 170_000 });
  const coordLog = path.join(out, 'logs', 'coordinator.log');
  let stopped: number | undefined;
  try {
    await waitFor('rank 0 to finish an epoch', () => (logEvents(path.join(out, 'logs', 'rank 0.log'), 'epoch').length > 0 ? true : undefined), 90_000);
    stopped = childPids(run.child.pid as number).find((pid) => envOf(pid).RANK === '2');
    assert.ok(stopped !== undefined, 'rank 2 not found');
    process.kill(stopped, 'SIGSTOP');
    const r = await run.result;
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /epoch 6\/6/);
    const formed = logEvents(coordLog, 'ring-formed');
    assert.ok(formed.length >= 2, 'the ring re-formed');
    const sizes = new Map(formed.map((e) => [e.generation as number, (e.ring as { workerId: string }[]).length]));
    // Generation 2 formed without the stopped process.
    assert.ok(!(formed[1]!.ring as { workerId: string }[]).some((p) => p.workerId.endsWith(`-${stopped}`)), JSON.stringify(formed[1]));
    for (const j of logEvents(path.join(out, 'logs', 'rank 0.log'), 'joined')) {
      assert.match(String(j.msg), new RegExp(`joined as rank 0 of ${sizes.get(j.generation as number)}$`), `generation ${String(j.generation)}`);
    }
    assert.ok(finalVal(out) > 0.85, `accuracy ${finalVal(out)}`);
  } finally {
    if (stopped !== undefined) {
      try {
        process.kill(stopped, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
});
