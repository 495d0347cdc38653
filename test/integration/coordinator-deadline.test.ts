/**
 * cluster.activeDeadlineSec: the coordinator fails a job that runs longer, as a Kubernetes Job's
 * activeDeadlineSeconds does (deploy/k8s sets both to the same value), and its state file says
 * so, so a restarted coordinator does not pick the job up again.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_JOB, type JobSpec } from '../../src/config';
import { startCoordinator } from '../../src/coordinator';
import { createLogger } from '../../src/observe';

const quiet = () => createLogger({ job: 'deadline', role: 'coordinator', destination: { write: () => undefined } });

test(
  'a job still running at cluster.activeDeadlineSec fails, naming the setting, and the state file records it',
  { timeout: 20_000 },
  async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-deadline-'));
    const stateFile = path.join(dir, 'coordinator-state.json');
    const spec: JobSpec = {
      ...DEFAULT_JOB,
      name: 'deadline',
      cluster: { ...DEFAULT_JOB.cluster, worldSize: 2, joinTimeoutSec: 60, activeDeadlineSec: 1 },
    };
    const started = Date.now();
    const c = await startCoordinator({ spec, host: '127.0.0.1', port: 0, log: quiet(), lingerMs: 50, stateFile });
    try {
      const result = await c.done;
      const took = Date.now() - started;
      assert.equal(result.ok, false);
      assert.match(
        result.reason,
        /the job ran past cluster\.activeDeadlineSec \(1 s since the coordinator started\): raise it, or 0 for no limit/,
      );
      assert.ok(took >= 1000 && took < 10_000, `failed after ${took} ms`);
      assert.equal((JSON.parse(fs.readFileSync(stateFile, 'utf8')) as { phase: string }).phase, 'failed');
    } finally {
      await c.stop('test over');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);
