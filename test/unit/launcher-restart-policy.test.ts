import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { validateJob } from '../../src/config';
import { leaveOutReason, lostAction, type RestartRule } from '../../src/launcher/restart-policy';
import { configError } from './support';

const shrinkable: RestartRule = { worldSize: 3, minWorkers: 2, maxRestarts: 2, restartWorkers: true };

test('a lost worker or coordinator is restarted while the budget lasts', () => {
  assert.equal(lostAction(shrinkable, true, 1), 'restart');
  assert.equal(lostAction(shrinkable, false, 1), 'restart');
  assert.equal(lostAction({ ...shrinkable, minWorkers: 0 }, true, 2), 'restart');
});

test('with the budget spent, a worker of a ring that may shrink is left out; the coordinator, or a fixed-size ring, fails', () => {
  assert.equal(lostAction(shrinkable, true, 0), 'leave-out');
  assert.equal(lostAction(shrinkable, false, 0), 'fail');
  assert.equal(
    lostAction({ ...shrinkable, minWorkers: 0 }, true, 0),
    'fail',
    'minWorkers 0 means worldSize: no shrinking',
  );
  assert.equal(lostAction({ ...shrinkable, minWorkers: 3 }, true, 0), 'fail');
  assert.equal(lostAction({ ...shrinkable, maxRestarts: 0 }, true, 0), 'fail', 'no re-formation allowed at all');
  assert.equal(
    leaveOutReason(shrinkable),
    'no restarts left: 2 of cluster.maxRestarts=2 used; the ring goes on without it (cluster.minWorkers=2)',
  );
});

test('restartWorkers false leaves every lost worker out with restarts to spare, and still restarts the coordinator', () => {
  const rule = { ...shrinkable, restartWorkers: false };
  assert.equal(lostAction(rule, true, 2), 'leave-out');
  assert.equal(lostAction(rule, false, 2), 'restart');
  assert.equal(
    leaveOutReason(rule),
    'cluster.restartWorkers=false; the ring goes on without it (cluster.minWorkers=2)',
  );
});

test('restartWorkers false is refused for a ring that may not shrink, naming the settings', () => {
  const ok = validateJob(
    { cluster: { worldSize: 3, minWorkers: 2, maxRestarts: 1, restartWorkers: false } },
    'job.yaml',
  );
  assert.equal(ok.cluster.restartWorkers, false);
  assert.equal(validateJob({}, 'job.yaml').cluster.restartWorkers, true);
  for (const cluster of [
    { worldSize: 3, maxRestarts: 1 },
    { worldSize: 3, minWorkers: 2 },
    { worldSize: 3, minWorkers: 3, maxRestarts: 1 },
  ]) {
    const message = configError(() => validateJob({ cluster: { ...cluster, restartWorkers: false } }, 'job.yaml'));
    assert.match(
      message,
      /job\.yaml: cluster\.restartWorkers false leaves a lost worker out, but this ring may not shrink \(cluster\.minWorkers \d, cluster\.worldSize 3, cluster\.maxRestarts \d\): set cluster\.minWorkers between 1 and worldSize - 1 and cluster\.maxRestarts > 0/,
      JSON.stringify(cluster),
    );
  }
});
