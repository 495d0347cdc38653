import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { validateJob } from '../../src/config';
import { WeightedSampler, epochSampler, samplesPerRank, type RowSource } from '../../src/data';
import { configError } from './support';

/** Labels with `counts[c]` samples of class c, interleaved so no class sits in one block. */
function labelsOf(counts: number[]): Int32Array {
  const out: number[] = [];
  const left = [...counts];
  while (left.some((n) => n > 0)) left.forEach((n, c) => n > 0 && (out.push(c), (left[c] = n - 1)));
  return Int32Array.from(out);
}

function frequencies(idx: Int32Array, labels: Int32Array, classes: number): number[] {
  const f = new Array<number>(classes).fill(0);
  for (const i of idx) f[labels[i]!] += 1 / idx.length;
  return f;
}

/** |observed - p| within 5 standard deviations of a binomial proportion over n draws. */
function assertNear(observed: number, p: number, n: number, what: string): void {
  const bound = 5 * Math.sqrt((p * (1 - p)) / n);
  assert.ok(
    Math.abs(observed - p) <= bound,
    `${what}: drew ${observed.toFixed(4)}, expected ${p.toFixed(4)} +- ${bound.toFixed(4)}`,
  );
}

const opts = (n: number, world: number, rank: number, epoch = 0) => ({
  datasetSize: n,
  worldSize: world,
  rank,
  epoch,
  seed: 7,
});

test('class frequencies follow the weights: class 1 at weight 4 of two equal classes is drawn 4 times in 5', () => {
  const labels = labelsOf([10_000, 10_000]);
  const s = new WeightedSampler(labels, 2, [1, 4]);
  const drawn = s.indices(opts(labels.length, 1, 0));
  assert.equal(drawn.length, labels.length);
  const f = frequencies(drawn, labels, 2);
  assertNear(f[1]!, 0.8, drawn.length, 'class 1');
});

test("balanced draws every class about equally from a 90/9/1 split, and reaches the rare class's samples", () => {
  const labels = labelsOf([18_000, 1_800, 200]);
  const s = new WeightedSampler(labels, 3, 'balanced');
  const drawn = s.indices(opts(labels.length, 1, 0));
  const f = frequencies(drawn, labels, 3);
  for (let c = 0; c < 3; c++) assertNear(f[c]!, 1 / 3, drawn.length, `class ${c}`);
  // About 6,667 draws over 200 samples: every one of them turns up (P(miss one) ~ e^-33).
  const rare = new Set(Array.from(drawn).filter((i) => labels[i] === 2));
  assert.equal(rare.size, 200);
});

test('a class of weight 0 is never drawn, nor a weighted class that has no sample', () => {
  const labels = labelsOf([500, 500, 0, 500]);
  const s = new WeightedSampler(labels, 4, [0, 1, 3, 1]);
  const f = frequencies(s.indices(opts(labels.length, 1, 0)), labels, 4);
  assert.equal(f[0], 0);
  assert.equal(f[2], 0);
  assertNear(f[1]!, 0.5, labels.length, 'class 1');
});

test('ranks draw disjoint positions of one list: W ranks together draw exactly what one worker draws', () => {
  const labels = labelsOf([700, 300]);
  const s = new WeightedSampler(labels, 2, [1, 2]);
  const one = s.indices(opts(1000, 1, 0, 3));
  for (const world of [2, 3]) {
    const shares = Array.from({ length: world }, (_, r) => s.indices(opts(1000, world, r, 3)));
    for (const share of shares) assert.equal(share.length, samplesPerRank(1000, world));
    // Rank r's k-th draw is position r + k*W of the one list.
    for (let p = 0; p < 1000; p++)
      assert.equal(shares[p % world]![Math.floor(p / world)], one[p], `position ${p} with ${world} ranks`);
  }
});

test('draws are deterministic in (seed, epoch) and differ between epochs and seeds', () => {
  const labels = labelsOf([700, 300]);
  const s = new WeightedSampler(labels, 2, 'balanced');
  const again = new WeightedSampler(labels, 2, 'balanced');
  assert.deepEqual(s.indices(opts(1000, 2, 1, 4)), again.indices(opts(1000, 2, 1, 4)));
  const same = (a: Int32Array, b: Int32Array): number => a.reduce((n, v, i) => n + (v === b[i] ? 1 : 0), 0);
  assert.ok(
    same(s.indices(opts(1000, 2, 1, 4)), s.indices(opts(1000, 2, 1, 5))) < 50,
    'another epoch draws another list',
  );
  assert.ok(
    same(s.indices(opts(1000, 2, 1, 4)), s.indices({ ...opts(1000, 2, 1, 4), seed: 8 })) < 50,
    'another seed draws another list',
  );
});

test("a re-formed ring continues the epoch's list at the offset, as the distributed sampler does", () => {
  const labels = labelsOf([700, 300]);
  const s = new WeightedSampler(labels, 2, [1, 3]);
  const one = s.indices(opts(1000, 1, 0));
  const rest = [0, 1, 2].map((r) => s.indices({ ...opts(1000, 3, r), offset: 400 }));
  for (let p = 400; p < 1000; p++)
    assert.equal(rest[(p - 400) % 3]![Math.floor((p - 400) / 3)], one[p], `position ${p}`);
});

test('the distributed kind is the plain DistributedSampler; weights that do not fit the dataset are refused by name', () => {
  const source: RowSource = {
    images: new Float32Array(4),
    labels: Int32Array.from([0, 1, 1, 0]),
    count: 4,
    features: 1,
    classes: 2,
  };
  assert.deepEqual(epochSampler({ kind: 'distributed', weights: [] }, source)(opts(4, 2, 0)).length, 2);
  assert.match(
    configError(() => epochSampler({ kind: 'weighted', weights: [1, 2, 3] }, source)),
    /data\.sampler\.weights has 3 weights, but the dataset has 2 classes/,
  );
  assert.match(
    configError(() =>
      epochSampler({ kind: 'weighted', weights: [0, 5] }, { ...source, labels: Int32Array.from([0, 0, 0, 0]) }),
    ),
    /weight only to classes with no training sample \(counts per class: 4, 0\)/,
  );
  assert.match(
    configError(() => epochSampler({ kind: 'balanced', weights: [] }, { ...source, targets: new Float32Array(4) })),
    /regression targets: use data\.sampler\.kind distributed/,
  );
  assert.match(
    configError(() => epochSampler({ kind: 'balanced', weights: [] }, source)(opts(4, 2, 2))),
    /rank must be an integer in 0\.\.1/,
  );
});

test('the job spec refuses sampler settings that cannot work, each with its fix', () => {
  const bad = (data: object, train: object = {}): string => configError(() => validateJob({ data, train }, 'job.yaml'));
  assert.match(
    bad({ sampler: { kind: 'weighted' } }),
    /data\.sampler\.kind is weighted but data\.sampler\.weights is empty: give one weight per class/,
  );
  assert.match(
    bad({ sampler: { kind: 'balanced', weights: [1, 2] } }),
    /kind is balanced, which ignores them: set kind: weighted/,
  );
  assert.match(bad({ sampler: { kind: 'weighted', weights: [0, 0] } }), /weights are all 0/);
  assert.match(bad({ sampler: { kind: 'weighted', weights: [1, -1] } }), /data\.sampler\.weights/);
  assert.match(bad({ sampler: { kind: 'oversample' } }), /data\.sampler\.kind/);
  assert.match(
    bad({ sampler: { kind: 'balanced' }, shuffle: false }),
    /data\.shuffle is false, but data\.sampler\.kind balanced draws samples at random/,
  );
  assert.match(
    bad({ sampler: { kind: 'balanced' }, dataset: 'csv', task: 'regression', trainFile: 'x.csv' }),
    /data\.task is regression \(no classes\)/,
  );
  assert.match(
    bad({ sampler: { kind: 'balanced' } }, { balanceClasses: true }),
    /train\.balanceClasses and data\.sampler\.kind balanced both correct for class imbalance/,
  );
  assert.deepEqual(validateJob({ data: { sampler: { kind: 'weighted', weights: [1, 3] } } }, 'job.yaml').data.sampler, {
    kind: 'weighted',
    weights: [1, 3],
  });
});
