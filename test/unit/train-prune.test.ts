/**
 * Magnitude pruning: the cubic schedule, which weights one pruning step zeroes, gradual pruning
 * in 2-worker training (masks identical on every rank and kept through the all-reduce, exactly
 * the scheduled sparsity, 2 x 16 like 1 x 32, a resume from a checkpoint like no interruption),
 * and the one-shot pruning of a saved model that `ringtrain export --prune` runs.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { validateJob } from '../../src/config';
import {
  buildMlp,
  pruneByMagnitude,
  pruneModelDir,
  readSavedWeights,
  saveModelToDir,
  sparsityAt,
  sparsityOf,
} from '../../src/train';
import { configError } from './support';
import { mnistSlice, relativeDifference, specWith, trainRanks, type SpecPatch } from './train-harness';

const SPEC = { sparsity: 0.5, startEpoch: 2, endEpoch: 4 };

test('the sparsity schedule is 0 before startEpoch, then s x (1 - (1 - k/n)^3), then s', () => {
  const got = [1, 2, 3, 4, 5].map((e) => sparsityAt(SPEC, 5, e));
  const want = [0, 0.5 * (1 - (2 / 3) ** 3), 0.5 * (1 - (1 / 3) ** 3), 0.5, 0.5];
  got.forEach((v, i) =>
    assert.ok(Math.abs(v - (want[i] as number)) < 1e-12, `epoch ${i + 1}: ${v}, expected ${want[i]}`),
  );
  // endEpoch 0 = the last epoch; sparsity 0 = off.
  assert.equal(sparsityAt({ ...SPEC, endEpoch: 0 }, 3, 3), 0.5);
  assert.equal(sparsityAt({ ...SPEC, sparsity: 0 }, 5, 5), 0);
});

test('a pruning step zeroes the smallest magnitudes of each kernel, leaves biases alone, and never revives a pruned weight', () => {
  const slots = [
    { shape: [2, 3], offset: 0, size: 6 },
    { shape: [3], offset: 6, size: 3 },
  ];
  const params = Float32Array.from([0.5, -0.1, 0.3, -0.7, 0.2, 0.05, 0.001, -0.002, 0.003]);
  const mask = new Float32Array(9).fill(1);
  pruneByMagnitude(params, mask, slots, 0.5);
  assert.deepEqual(Array.from(params), Array.from(Float32Array.from([0.5, 0, 0.3, -0.7, 0, 0, 0.001, -0.002, 0.003])));
  assert.deepEqual(Array.from(mask), [1, 0, 1, 1, 0, 0, 1, 1, 1]);
  assert.equal(sparsityOf(params, slots), 0.5);
  // Training moved the pruned ones?  They are masked: a higher sparsity takes the next smallest live one.
  params[1] = 5;
  pruneByMagnitude(params, mask, slots, 4 / 6);
  assert.deepEqual(Array.from(mask.subarray(0, 6)), [1, 0, 0, 1, 0, 0]);
  assert.equal(params[2], 0);
});

interface Run {
  weights: Float32Array[];
  losses: number[];
  logs: Record<string, unknown>[];
  pruning: { sparsity: number; before?: { epoch: number; accuracy: number } } | undefined;
  /** Zero positions of rank 0's params at the end of each epoch. */
  zeros: Set<number>[];
}

async function train(
  world: number,
  patch: SpecPatch['train'],
  opts: { checkpointDir?: string; resumeFrom?: string } = {},
): Promise<Run> {
  const data = await mnistSlice(8 * 32, 64);
  const spec = specWith({
    data: { batchSize: 32 / world },
    train: { epochs: 4, prune: SPEC, ...patch },
    checkpoint: { everySteps: opts.checkpointDir === undefined ? 0 : 9 },
  });
  const losses: number[] = [];
  const zeros: Set<number>[] = [];
  const ranks = await trainRanks({
    world,
    spec,
    data,
    ...opts,
    hooks: (rank, loop) => ({
      onStepDetail: (s) => {
        if (rank === 0) losses.push(s.loss);
      },
      onEpoch: () => {
        if (rank !== 0) return;
        const z = new Set<number>();
        loop().params.forEach((v, i) => {
          if (v === 0) z.add(i);
        });
        zeros.push(z);
      },
    }),
  });
  for (const r of ranks) assert.equal(r.error, undefined, String(r.error));
  return {
    weights: ranks.map((r) => r.weights),
    losses,
    logs: ranks[0]!.logs,
    pruning: ranks[0]!.result?.pruning,
    zeros,
  };
}

const KERNELS = [
  { offset: 0, size: 784 * 32, shape: [784, 32] },
  { offset: 784 * 32 + 32, size: 32 * 10, shape: [32, 10] },
];

test('gradual pruning on 2 workers: identical replicas, exactly the scheduled sparsity per epoch, pruned weights stay 0, and 2 x 16 trains like 1 x 32', async () => {
  const pair = await train(2, {});
  const single = await train(1, {});
  assert.deepEqual(pair.weights[0], pair.weights[1], 'the replicas differ');
  // Every epoch's end holds exactly round(s x size) zeros per kernel (0 in epoch 1).
  const epochs = [1, 2, 3, 4].map((e) => sparsityAt(SPEC, 4, e));
  pair.zeros.forEach((z, e) => {
    const want = KERNELS.reduce((n, k) => n + Math.round((epochs[e] as number) * k.size), 0);
    assert.equal(z.size, want, `epoch ${e + 1}: ${z.size} zeros, expected ${want}`);
  });
  // The mask holds through the all-reduce and the updates: a weight pruned stays pruned.
  for (let e = 1; e < 4; e++)
    for (const i of pair.zeros[e - 1] as Set<number>)
      assert.ok((pair.zeros[e] as Set<number>).has(i), `weight ${i} came back in epoch ${e + 1}`);
  assert.equal(pair.pruning?.sparsity, 0.5);
  assert.equal(pair.pruning?.before?.epoch, 1);
  assert.ok((pair.pruning?.before?.accuracy ?? 0) > 0.3, `accuracy before pruning ${pair.pruning?.before?.accuracy}`);
  assert.deepEqual(
    pair.logs.filter((l) => l.event === 'pruned').map((l) => l.epoch),
    [2, 3, 4],
  );
  const rel = relativeDifference(single.weights[0]!, pair.weights[0]!);
  assert.ok(rel <= 1e-5, `2 workers are ${rel} away from 1 worker`);
  single.losses.forEach((l, i) =>
    assert.ok(
      Math.abs(l - (pair.losses[i] as number)) <= 1e-5 * Math.abs(l),
      `step ${i + 1}: ${pair.losses[i]} on 2 workers, ${l} on 1`,
    ),
  );
});

test('a pruned run resumed mid-epoch from a checkpoint ends exactly where the uninterrupted run does (the mask is in the checkpoint)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-prune-'));
  const full = await train(2, {}, { checkpointDir: dir });
  // Step 18 of 8-step epochs: 2 steps into epoch 3, which trains masked.
  const ckpt = path.join(dir, 'ckpt-000000018');
  assert.ok(fs.existsSync(ckpt), fs.readdirSync(dir).join(', '));
  const resumed = await train(2, {}, { resumeFrom: ckpt, checkpointDir: path.join(dir, 'again') });
  assert.deepEqual(resumed.weights[0], full.weights[0]);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('one-shot pruning of a saved model zeroes the smallest half of every kernel and keeps the rest and the biases bit for bit', async () => {
  await mnistSlice(1, 1);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtrain-prune-'));
  const model = buildMlp({ hidden: [16], activation: 'relu' }, 784, 10, 3);
  await saveModelToDir(model, path.join(dir, 'a'));
  fs.writeFileSync(path.join(dir, 'a', 'preprocess.json'), '{}');
  const r = pruneModelDir(path.join(dir, 'a'), path.join(dir, 'b'), 0.5);
  assert.deepEqual(r, { before: 0, after: 0.5, kernels: 2 });
  assert.ok(fs.existsSync(path.join(dir, 'b', 'preprocess.json')));
  const a = readSavedWeights(path.join(dir, 'a')).weights;
  const b = readSavedWeights(path.join(dir, 'b')).weights;
  for (const [name, w] of a) {
    const p = (b.get(name) as { values: Float32Array }).values;
    if (w.shape.length < 2) {
      assert.deepEqual(p, w.values, `${name} changed`);
      continue;
    }
    const zeroed = w.values.filter((_, i) => p[i] === 0).map(Math.abs);
    const kept = w.values.filter((_, i) => p[i] !== 0);
    assert.equal(zeroed.length, w.values.length / 2, name);
    assert.ok(
      Math.max(...zeroed) <= Math.min(...kept.map(Math.abs)),
      `${name}: a pruned weight is larger than a kept one`,
    );
    assert.deepEqual(
      kept,
      w.values.filter((_, i) => p[i] !== 0),
    );
  }
  assert.match(
    configError(() => pruneModelDir(path.join(dir, 'a'), path.join(dir, 'c'), 1)),
    /--prune 1: give the share of each kernel's weights to set to 0, a number above 0 and below 1/,
  );
  model.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('train.prune is checked: sparsity below 1, epochs inside the run and in order', () => {
  assert.deepEqual(
    validateJob({ train: { epochs: 4, prune: { sparsity: 0.8, startEpoch: 2, endEpoch: 3 } } }, 'job.yaml').train.prune,
    { sparsity: 0.8, startEpoch: 2, endEpoch: 3 },
  );
  assert.match(
    configError(() => validateJob({ train: { prune: { sparsity: 1 } } }, 'job.yaml')),
    /train\.prune\.sparsity must be a number >= 0 and < 1, got 1/,
  );
  assert.match(
    configError(() => validateJob({ train: { epochs: 2, prune: { sparsity: 0.5, startEpoch: 3 } } }, 'job.yaml')),
    /train\.prune\.startEpoch \(3\) is after the last epoch \(train\.epochs 2\), so nothing would be pruned/,
  );
  assert.match(
    configError(() =>
      validateJob({ train: { epochs: 4, prune: { sparsity: 0.5, startEpoch: 3, endEpoch: 2 } } }, 'job.yaml'),
    ),
    /train\.prune\.endEpoch \(2\) comes before train\.prune\.startEpoch \(3\)/,
  );
  assert.match(
    configError(() => validateJob({ train: { epochs: 4, prune: { sparsity: 0.5, endEpoch: 5 } } }, 'job.yaml')),
    /train\.prune\.endEpoch \(5\) is after the last epoch \(train\.epochs 4\)/,
  );
});
