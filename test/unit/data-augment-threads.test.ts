import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import {
  AugmentThreads,
  BatchPipeline,
  augmenter,
  batchIndices,
  distributedIndices,
  epochBatches,
  loadMnist,
  sliceSplit,
  type Batch,
  type Split,
} from '../../src/data';
import type { AugmentSpec } from '../../src/config';
import { mnistSlice, specWith, trainRanks } from './train-harness';

const SPEC: AugmentSpec = { cropPadding: 3, flip: true, rotate: 15, threads: 1 };
const FILL = -0.4242;
const SEED = 42;

let mnist: Split | undefined;
function images(count: number): Split {
  mnist ??= loadMnist({ trainLimit: 600, testLimit: 10 }).train;
  return sliceSplit(mnist, 0, count);
}

function copy(b: Batch): { x: Float32Array; y: Int32Array } {
  return { x: b.x.slice(), y: b.y.slice() };
}

/** Every batch of `epoch` for `rank` of `world`, asked for as the training loop asks (get b, prepare b+1). */
function epochOf(
  make: (batches: Int32Array[]) => { get(b: number): Batch; prepare(b: number): void },
  source: Split,
  world: number,
  rank: number,
  epoch: number,
  from = 0,
): { x: Float32Array; y: Int32Array }[] {
  const idx = distributedIndices({ datasetSize: source.count, worldSize: world, rank, epoch, seed: SEED });
  const batches = batchIndices(idx, 24);
  const p = make(batches);
  const out: { x: Float32Array; y: Int32Array }[] = [];
  for (let b = from; b < batches.length; b++) {
    out.push(copy(p.get(b)));
    if (b + 1 < batches.length) p.prepare(b + 1);
  }
  return out;
}

test('off-thread augmentation gives the inline batches bit for bit, on every rank, epoch and thread count', async () => {
  const source = images(250); // 125 per rank of 2: five batches of 24 and a short one of 5
  const inline = augmenter(SPEC, source.imageShape, FILL, SEED)!;
  for (const threads of [1, 2]) {
    const pool = new AugmentThreads({
      spec: { ...SPEC, threads },
      shape: source.imageShape!,
      fill: FILL,
      seed: SEED,
      threads,
      batchSize: 24,
    });
    try {
      for (const epoch of [0, 1]) {
        for (const rank of [0, 1]) {
          const want = epochOf((b) => new BatchPipeline(source, b, 24, inline(epoch)), source, 2, rank, epoch);
          const got = epochOf((b) => pool.pipeline(source, b, 24, epoch), source, 2, rank, epoch);
          assert.equal(got.length, 6);
          assert.equal(got[5]!.y.length, 5, 'the short last batch keeps its 5 rows');
          got.forEach((g, b) => {
            assert.deepEqual(g.y, want[b]!.y, `labels of batch ${b}`);
            assert.deepEqual(
              Buffer.from(g.x.buffer, g.x.byteOffset, g.x.byteLength),
              Buffer.from(want[b]!.x.buffer, want[b]!.x.byteOffset, want[b]!.x.byteLength),
              `bytes of batch ${b}, rank ${rank}, epoch ${epoch}, ${threads} thread(s)`,
            );
          });
        }
      }
      // A resumed epoch starts mid-way: the batches from there on are the same too.
      const tail = epochOf((b) => pool.pipeline(source, b, 24, 1), source, 2, 1, 1, 3);
      const whole = epochOf((b) => new BatchPipeline(source, b, 24, inline(1)), source, 2, 1, 1);
      assert.deepEqual(tail, whole.slice(3));
    } finally {
      await pool.close();
    }
  }
});

test('augmentation did change the rows (the comparison above is not between two copies of the raw data)', async () => {
  const source = images(48);
  const pool = new AugmentThreads({
    spec: SPEC,
    shape: source.imageShape!,
    fill: FILL,
    seed: SEED,
    threads: 1,
    batchSize: 24,
  });
  try {
    const batches = batchIndices(
      Int32Array.from({ length: 48 }, (_, i) => i),
      24,
    );
    const raw = new BatchPipeline(source, batches, 24).get(0).x.slice();
    const aug = epochBatches(source, batches, 24, 0, pool).get(0).x;
    let changed = 0;
    for (let i = 0; i < raw.length; i++) if (raw[i] !== aug[i]) changed++;
    assert.ok(changed > raw.length / 10, `${changed} of ${raw.length} values changed`);
  } finally {
    await pool.close();
  }
});

test('a batch being trained on is not overwritten while later ones are augmented', async () => {
  const source = images(24 * 8);
  const pool = new AugmentThreads({
    spec: SPEC,
    shape: source.imageShape!,
    fill: FILL,
    seed: SEED,
    threads: 1,
    batchSize: 24,
  });
  try {
    const batches = batchIndices(
      Int32Array.from({ length: 24 * 8 }, (_, i) => i),
      24,
    );
    const want = new BatchPipeline(source, batches, 24, augmenter(SPEC, source.imageShape, FILL, SEED)!(0))
      .get(0)
      .x.slice();
    const p = pool.pipeline(source, batches, 24, 0);
    const first = p.get(0);
    // Batch 0's slot is handed on at once (to batch 0 + slots); batch 0 itself must live on until get(2).
    p.prepare(1);
    p.get(1);
    assert.deepEqual(first.x, want);
  } finally {
    await pool.close();
  }
});

test('a thread that fails names itself and the reason instead of hanging', async () => {
  const source = images(40);
  // One-row slots, but a batch of 40 rows: the thread's view of its slot is out of range.
  const pool = new AugmentThreads({
    spec: SPEC,
    shape: source.imageShape!,
    fill: FILL,
    seed: SEED,
    threads: 1,
    batchSize: 1,
    waitMs: 20_000,
  });
  try {
    const p = pool.pipeline(source, [Int32Array.from({ length: 40 }, (_, i) => i)], 40, 0);
    assert.throws(() => p.get(0), /augmentation thread 0 failed on a batch of epoch 1: .*(range|bounds|length)/i);
  } finally {
    await pool.close();
  }
});

test('two ranks trained with augmentation threads end bit-identical to inline augmentation, and to each other', async () => {
  const data = await mnistSlice(256, 64);
  const spec = specWith({
    data: { batchSize: 32, augment: { ...SPEC, threads: 1 } },
    train: { epochs: 2, optimizer: 'adam', lr: 0.002 },
  });
  const shape = data.train.imageShape!;
  const pools: AugmentThreads[] = [];
  try {
    const paths: string[] = [];
    const threaded = await trainRanks({
      world: 2,
      spec,
      data,
      before: (_r, loop) => paths.push(loop.fused !== undefined ? 'fused' : `tfjs: ${loop.fusedWhy}`),
      augmentation: () => {
        const pool = new AugmentThreads({ spec: SPEC, shape, fill: FILL, seed: spec.seed, threads: 1, batchSize: 32 });
        pools.push(pool);
        return pool;
      },
    });
    const inline = augmenter(SPEC, shape, FILL, spec.seed)!;
    const plain = await trainRanks({ world: 2, spec, data, augment: (epoch) => inline(epoch) });
    for (const r of [0, 1]) assert.equal(threaded[r]!.error, undefined, `rank ${r}: ${threaded[r]!.error?.message}`);
    assert.deepEqual(paths, ['fused', 'fused'], 'the native fused step consumed the batches');
    assert.deepEqual(threaded[0]!.weights, threaded[1]!.weights, 'replicas identical');
    assert.deepEqual(threaded[0]!.weights, plain[0]!.weights, 'threads train exactly as inline augmentation does');
  } finally {
    await Promise.all(pools.map((p) => p.close()));
  }
});

test('a weighted sampler trains two ranks to identical replicas, each rank drawing its own share', async () => {
  const data = await mnistSlice(256, 64);
  const spec = specWith({
    data: { batchSize: 32, sampler: { kind: 'weighted', weights: [1, 1, 1, 1, 1, 1, 1, 1, 1, 20] } },
    train: { epochs: 1 },
  });
  const runs = await trainRanks({ world: 2, spec, data });
  for (const r of [0, 1]) assert.equal(runs[r]!.error, undefined, `rank ${r}: ${runs[r]!.error?.message}`);
  assert.deepEqual(runs[0]!.weights, runs[1]!.weights);
  assert.equal(runs[0]!.result!.last!.train.samples, 256, 'as many draws as samples, over both ranks');
  const base = await trainRanks({ world: 2, spec: specWith({ data: { batchSize: 32 }, train: { epochs: 1 } }), data });
  assert.notDeepEqual(base[0]!.weights, runs[0]!.weights, 'the sampler changed what was trained on');
});
