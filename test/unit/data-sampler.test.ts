import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { distributedIndices, samplesPerRank, shufflePermutation } from '../../src/data/distributed-sampler';
import { batchIndices } from '../../src/data/batches';
import { RingtrainError } from '../../src/core/errors';

function ranks(
  datasetSize: number,
  worldSize: number,
  extra: { epoch?: number; seed?: number; shuffle?: boolean; dropLast?: boolean } = {},
): number[][] {
  const out: number[][] = [];
  for (let rank = 0; rank < worldSize; rank++) {
    out.push(
      Array.from(
        distributedIndices({
          datasetSize,
          worldSize,
          rank,
          epoch: extra.epoch ?? 0,
          seed: extra.seed ?? 42,
          shuffle: extra.shuffle,
          dropLast: extra.dropLast,
        }),
      ),
    );
  }
  return out;
}

function sorted(xs: Iterable<number>): number[] {
  return Array.from(xs).sort((a, b) => a - b);
}

test('a shuffled permutation contains every index exactly once', () => {
  const perm = shufflePermutation(1000, 7);
  assert.deepEqual(
    sorted(perm),
    Array.from({ length: 1000 }, (_, i) => i),
  );
  assert.notDeepEqual(
    Array.from(perm.subarray(0, 20)),
    Array.from({ length: 20 }, (_, i) => i),
  );
});

test('the same seed gives the same permutation and a different seed a different one', () => {
  assert.deepEqual(shufflePermutation(500, 3), shufflePermutation(500, 3));
  assert.notDeepEqual(shufflePermutation(500, 3), shufflePermutation(500, 4));
  assert.notDeepEqual(shufflePermutation(500, 2 ** 40), shufflePermutation(500, 0), 'high seed bits matter');
});

test('every rank gets the same number of samples', () => {
  for (const [n, world] of [
    [10, 4],
    [60000, 3],
    [7, 7],
    [5, 8],
    [1, 2],
  ]) {
    const expected = Math.ceil(n / world);
    assert.equal(samplesPerRank(n, world), expected);
    for (const r of ranks(n, world)) assert.equal(r.length, expected, `n=${n} world=${world}`);
  }
});

test('ten samples over four ranks pad to twelve by repeating the first two shuffled indices', () => {
  const perm = Array.from(shufflePermutation(10, 42)); // seed 42 + epoch 0
  const padded = [...perm, perm[0], perm[1]];
  const got = ranks(10, 4);
  for (let r = 0; r < 4; r++) {
    assert.deepEqual(got[r], [padded[r], padded[r + 4], padded[r + 8]], `rank ${r} takes every 4th position from ${r}`);
  }
  const counts = new Map<number, number>();
  for (const i of got.flat()) counts.set(i, (counts.get(i) ?? 0) + 1);
  assert.equal(counts.size, 10, 'the union covers the dataset');
  assert.deepEqual(sorted([...counts].filter(([, c]) => c === 2).map(([i]) => i)), sorted([perm[0], perm[1]]));
});

test('ranks are disjoint and cover the dataset when the world size divides it', () => {
  const got = ranks(60, 4);
  const all = got.flat();
  assert.equal(new Set(all).size, 60);
  assert.deepEqual(
    sorted(all),
    Array.from({ length: 60 }, (_, i) => i),
  );
});

test('different epochs give different orders, the same epoch and seed the same order', () => {
  const e0 = ranks(100, 2, { epoch: 0 });
  assert.deepEqual(ranks(100, 2, { epoch: 0 }), e0);
  assert.notDeepEqual(ranks(100, 2, { epoch: 1 })[0], e0[0]);
  assert.notDeepEqual(ranks(100, 2, { epoch: 0, seed: 43 })[0], e0[0]);
});

test('the permutation is seeded by seed + epoch, as in PyTorch', () => {
  assert.deepEqual(ranks(50, 1, { seed: 10, epoch: 3 }), ranks(50, 1, { seed: 13, epoch: 0 }));
  assert.deepEqual(ranks(50, 1, { seed: 10, epoch: 3 })[0], Array.from(shufflePermutation(50, 13)));
});

test('without shuffle ranks take the dataset in strided order', () => {
  assert.deepEqual(ranks(10, 4, { shuffle: false }), [
    [0, 4, 8],
    [1, 5, 9],
    [2, 6, 0],
    [3, 7, 1],
  ]);
});

test('dropLast trims the tail so no sample repeats', () => {
  assert.equal(samplesPerRank(10, 4, true), 2);
  const got = ranks(10, 4, { dropLast: true, shuffle: false });
  assert.deepEqual(got, [
    [0, 4],
    [1, 5],
    [2, 6],
    [3, 7],
  ]);
  const shuffled = ranks(10, 4, { dropLast: true }).flat();
  assert.equal(shuffled.length, 8);
  assert.equal(new Set(shuffled).size, 8);
  assert.deepEqual(sorted(shuffled), sorted(Array.from(shufflePermutation(10, 42)).slice(0, 8)));
});

test('dropLast with more ranks than samples leaves every rank empty', () => {
  assert.equal(samplesPerRank(3, 4, true), 0);
  for (const r of ranks(3, 4, { dropLast: true })) assert.deepEqual(r, []);
});

test('more ranks than samples repeat the whole list as padding', () => {
  // n=3, world=8: total 8 = perm + perm + perm[0..2), as PyTorch's (indices * ceil(5/3))[:5].
  const perm = Array.from(shufflePermutation(3, 42));
  const padded = [...perm, ...perm, perm[0], perm[1]];
  assert.deepEqual(
    ranks(3, 8),
    padded.map((i) => [i]),
  );
});

test('the union of the ranks k-th batches is the k-th global batch of the single-worker list', () => {
  const n = 96;
  const world = 3;
  const batch = 4;
  const single = distributedIndices({ datasetSize: n, worldSize: 1, rank: 0, epoch: 5, seed: 1 });
  assert.deepEqual(single, shufflePermutation(n, 6), 'world=1 sees the plain permutation');
  const global = batchIndices(single, world * batch);
  const perRank = [0, 1, 2].map((rank) =>
    batchIndices(distributedIndices({ datasetSize: n, worldSize: world, rank, epoch: 5, seed: 1 }), batch),
  );
  assert.equal(global.length, 8);
  for (let k = 0; k < global.length; k++) {
    assert.deepEqual(
      sorted(perRank.flatMap((b) => Array.from(b[k]))),
      sorted(single.subarray(k * world * batch, (k + 1) * world * batch)),
      `step ${k}`,
    );
  }
});

test('with padding the union of k-th batches is the k-th global batch of the padded list', () => {
  const n = 50; // world 3: 17 per rank, 51 in total, so perm[0] is repeated once
  const world = 3;
  const batch = 4;
  const perm = Array.from(shufflePermutation(n, 9));
  const padded = [...perm, perm[0]];
  const perRank = [0, 1, 2].map((rank) =>
    batchIndices(distributedIndices({ datasetSize: n, worldSize: world, rank, epoch: 0, seed: 9 }), batch),
  );
  for (let k = 0; k < 5; k++) {
    assert.deepEqual(
      sorted(perRank.flatMap((b) => Array.from(b[k]))),
      sorted(padded.slice(k * world * batch, (k + 1) * world * batch)),
      `step ${k}`,
    );
  }
  assert.deepEqual(
    perRank.map((b) => b[4].length),
    [1, 1, 1],
    'the last step is short on every rank alike',
  );
});

test('rejects a rank outside the world, with the values', () => {
  assert.throws(
    () => distributedIndices({ datasetSize: 10, worldSize: 4, rank: 4, epoch: 0, seed: 0 }),
    (e: unknown) =>
      e instanceof RingtrainError &&
      e.code === 'CONFIG_INVALID' &&
      /rank must be an integer in 0\.\.3 for worldSize 4, got 4/.test(e.message),
  );
});

test('lists every invalid argument at once', () => {
  assert.throws(
    () => distributedIndices({ datasetSize: -1, worldSize: 0, rank: -1, epoch: 1.5, seed: 0.5 }),
    /datasetSize must be an integer in 0\.\.2147483647, got -1; worldSize must be a positive integer, got 0; rank .* got -1; epoch must be a non-negative integer, got 1\.5; seed must be a safe integer, got 0\.5/,
  );
  assert.throws(() => samplesPerRank(10, 2.5), /worldSize must be a positive integer, got 2\.5/);
  assert.throws(() => shufflePermutation(3, NaN), /seed must be a safe integer, got NaN/);
});

test('an empty dataset gives every rank an empty list', () => {
  assert.deepEqual(ranks(0, 2), [[], []]);
});

test('an offset re-shards the rest of the epoch: every remaining position exactly once over the new world', () => {
  const di = distributedIndices;
  const sp = shufflePermutation;
  const n = 100;
  const order = sp(n, 7 + 2);
  // 3 workers consumed 2 batches of 8 each: 48 positions; 2 workers take the remaining 52.
  const parts = [0, 1].map((rank) => di({ datasetSize: n, worldSize: 2, rank, epoch: 2, seed: 7, offset: 48 }));
  assert.deepEqual(
    parts.map((p) => p.length),
    [26, 26],
  );
  assert.deepEqual(
    [...parts[0]!, ...parts[1]!].sort((a, b) => a - b),
    Array.from(order.subarray(48)).sort((a, b) => a - b),
  );
  // Offset 0 is the plain sampler.
  assert.deepEqual(
    di({ datasetSize: n, worldSize: 3, rank: 1, epoch: 2, seed: 7, offset: 0 }),
    di({ datasetSize: n, worldSize: 3, rank: 1, epoch: 2, seed: 7 }),
  );
  assert.equal(di({ datasetSize: n, worldSize: 2, rank: 0, epoch: 2, seed: 7, offset: 100 }).length, 0);
});
