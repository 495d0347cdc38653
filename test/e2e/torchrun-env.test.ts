/**
 * torchrun's and PyTorchJob's names: `launch --nproc-per-node` and `--max-restarts`, the
 * RANK / LOCAL_RANK / WORLD_SIZE a user module reads, and a worker that finds its coordinator
 * through MASTER_ADDR and MASTER_PORT. The same launch checks the reproducibility switches:
 * data.shuffle=false and checkpoint.atStart.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readCheckpoint } from '../../src/worker/checkpoint-store';
import { runCli, startCli, tempDir, waitFor } from './cli';

/** A model module that records the identity variables it sees, then builds a small MLP. */
const PROBE_MODEL = `
const fs = require('node:fs');
const path = require('node:path');
exports.buildModel = ({ tfl, sampleShape, classes, seed }) => {
  const seen = { RANK: process.env.RANK, LOCAL_RANK: process.env.LOCAL_RANK, WORLD_SIZE: process.env.WORLD_SIZE };
  fs.writeFileSync(path.join(process.env.PROBE_DIR, 'rank-' + process.env.RANK + '.json'), JSON.stringify(seen));
  const m = tfl.sequential();
  m.add(tfl.layers.dense({ inputShape: sampleShape, units: 16, activation: 'relu', kernelInitializer: tfl.initializers.heNormal({ seed }) }));
  m.add(tfl.layers.dense({ units: classes, kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 1 }) }));
  return m;
};
`;

function probe(dir: string): string {
  const file = path.join(dir, 'probe-model.js');
  fs.writeFileSync(file, PROBE_MODEL);
  return file;
}

function readJson(file: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
}

test(
  'launch --nproc-per-node 2 --max-restarts 1: user modules see RANK, LOCAL_RANK, WORLD_SIZE; the run keeps dataset order and writes its starting weights',
  { timeout: 180_000 },
  async () => {
    const dir = tempDir('torchrun');
    const out = path.join(dir, 'run');
    try {
      const sets = [
        `model.kind=module`,
        `model.module=${probe(dir)}`,
        'data.shuffle=false',
        'checkpoint.atStart=true',
        'train.epochs=1',
        'data.trainLimit=2000',
        'data.testLimit=200',
      ];
      const r = await runCli(
        ['launch', '--nproc-per-node', '2', '--max-restarts', '1', '--set', ...sets, '--out', out],
        { timeoutMs: 150_000, env: { PROBE_DIR: dir } },
      );
      assert.equal(r.code, 0, r.stdout + r.stderr);
      for (const rank of [0, 1])
        assert.deepEqual(readJson(path.join(dir, `rank-${rank}.json`)), {
          RANK: String(rank),
          LOCAL_RANK: String(rank),
          WORLD_SIZE: '2',
        });
      const job = readJson(path.join(out, 'job.json')) as {
        cluster: { maxRestarts: number; worldSize: number };
        data: { shuffle: boolean };
      };
      assert.equal(job.cluster.maxRestarts, 1, '--max-restarts is cluster.maxRestarts');
      assert.equal(job.cluster.worldSize, 2);
      assert.equal(job.data.shuffle, false);
      // The step-0 checkpoint and model-initial hold the same starting weights, and training moved them.
      const start = readCheckpoint(path.join(out, 'checkpoints', 'ckpt-000000000'));
      assert.equal(start.step, 0);
      const params = start.arrays.get('params');
      assert.ok(params !== undefined && params.length === 784 * 16 + 16 + 16 * 10 + 10, `params ${params?.length}`);
      const initial = fs.readFileSync(path.join(out, 'model-initial', 'weights.bin'));
      assert.deepEqual(new Float32Array(initial.buffer, initial.byteOffset, initial.byteLength / 4), params);
      assert.notDeepEqual(
        fs.readFileSync(path.join(out, 'model', 'weights.bin')),
        initial,
        'the final weights differ from the start',
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  'a worker in a PyTorchJob-style environment finds its coordinator through MASTER_ADDR and MASTER_PORT',
  { timeout: 120_000 },
  async () => {
    const dir = tempDir('master-addr');
    // The coordinator refuses a worker whose training settings differ: both get the same.
    const sets = [
      '--set',
      'train.epochs=1',
      'data.trainLimit=1000',
      'data.testLimit=200',
      'cluster.worldSize=1',
      'model.kind=module',
      `model.module=${probe(dir)}`,
    ];
    const coordinator = startCli(['coordinator', '--host', '127.0.0.1', '--port', '0', ...sets], {
      timeoutMs: 100_000,
      env: { RINGTRAIN_JOIN_TOKEN: undefined },
    });
    try {
      let stderr = '';
      coordinator.child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      const port = await waitFor(
        'the coordinator to listen',
        () => /"event":"listening","grpcPort":(\d+)/.exec(stderr)?.[1],
        30_000,
      );
      const env = {
        MASTER_ADDR: '127.0.0.1',
        MASTER_PORT: port,
        WORLD_SIZE: '1',
        RANK: '0',
        RINGTRAIN_COORDINATOR: undefined,
        RINGTRAIN_JOIN_TOKEN: undefined,
        PROBE_DIR: dir,
      };
      const w = await runCli(['worker', '--out', path.join(dir, 'run'), ...sets], { timeoutMs: 90_000, env });
      assert.equal(w.code, 0, w.stderr);
      assert.match(w.stderr, /"event":"joined"/);
      assert.deepEqual(readJson(path.join(dir, 'rank-0.json')), { RANK: '0', LOCAL_RANK: '0', WORLD_SIZE: '1' });
      assert.equal((await coordinator.result).code, 0);
    } finally {
      coordinator.child.kill('SIGTERM');
      await coordinator.result;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);
