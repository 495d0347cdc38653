import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import {
  bucketCandidates,
  fitLink,
  project,
  ringSeconds,
  stepSeconds,
  type LinkCalibration,
  type ModelCalibration,
} from '../../bench/scaling-model';

const LINK: LinkCalibration = { alphaSec: 1e-5, wire: 1.05, reduceBytesPerSec: 2e9 };
const close = (a: number, b: number, what: string): void =>
  assert.ok(Math.abs(a - b) <= 1e-12 + 1e-9 * Math.abs(b), `${what}: ${a} != ${b}`);

test('a ring all-reduce costs 2(n-1) latencies, 2(n-1)/n of the bytes on the link and (n-1)/n reduced', () => {
  // 4 nodes, 4 MB at 8 Gbit/s (1 GB/s of payload before the wire factor).
  const expected = 6 * 1e-5 + (6 * 1e6 * 1.05) / 1e9 + (3 * 1e6) / 2e9;
  close(ringSeconds(4e6, 4, 8e9, LINK), expected, '4 nodes');
  // fp16 on the wire halves the bytes on the link, not the latencies or the reduction.
  close(ringSeconds(4e6, 4, 8e9, LINK, 0.5), 6 * 1e-5 + (3 * 1e6 * 1.05) / 1e9 + (3 * 1e6) / 2e9, '4 nodes, fp16');
  assert.equal(ringSeconds(4e6, 1, 8e9, LINK), 0);
});

test('two nodes swap a bucket up to 4 MiB whole in one round, larger ones take the ring', () => {
  close(ringSeconds(1e6, 2, 8e9, LINK), 1e-5 + (1e6 * 1.05) / 1e9 + 1e6 / 2e9, 'pair');
  const big = 8 * 1024 * 1024;
  close(ringSeconds(big, 2, 8e9, LINK), 2 * 1e-5 + (big * 1.05) / 1e9 + big / 2 / 2e9, 'ring of two');
});

const MLP: ModelCalibration = { name: 'mlp', gradientBytes: 407_080, stepSec: 1e-3, batch: 64, backwardShare: 2 / 3 };
const BIG: ModelCalibration = { name: 'big', gradientBytes: 100e6, stepSec: 0.2, batch: 64, backwardShare: 2 / 3 };

test('without overlap a step is compute plus every bucket; with it only what outlasts backward shows', () => {
  const plan = { nodes: 8, linkBitsPerSec: 10e9, bucketBytes: 25 * 1024 * 1024, overlap: false };
  const buckets = Math.ceil(BIG.gradientBytes / plan.bucketBytes);
  close(
    stepSeconds(BIG, plan, LINK),
    BIG.stepSec + buckets * ringSeconds(BIG.gradientBytes / buckets, 8, 10e9, LINK),
    'no overlap',
  );
  const overlapped = stepSeconds(BIG, { ...plan, overlap: true }, LINK);
  assert.ok(overlapped < stepSeconds(BIG, plan, LINK), 'overlap hides some of the all-reduce');
  assert.ok(overlapped >= BIG.stepSec, 'a step is never shorter than its compute');
  assert.equal(stepSeconds(BIG, { ...plan, nodes: 1 }, LINK), BIG.stepSec);
});

test('the best bucket is the whole gradient without overlap and a smaller one with it', () => {
  const alone = project(BIG, 16, 10e9, LINK, false);
  assert.equal(alone.bucketBytes, BIG.gradientBytes);
  const overlapped = project(BIG, 16, 10e9, LINK, true);
  assert.ok(
    overlapped.bucketBytes < BIG.gradientBytes && overlapped.samplesPerSec > alone.samplesPerSec,
    JSON.stringify(overlapped),
  );
  assert.ok(overlapped.efficiency > 0 && overlapped.efficiency <= 1);
  close(
    overlapped.samplesPerSec,
    (16 * 64) /
      stepSeconds(BIG, { nodes: 16, linkBitsPerSec: 10e9, bucketBytes: overlapped.bucketBytes, overlap: true }, LINK),
    'samples/s of the best bucket',
  );
  // Efficiency falls as nodes are added on one link rate, and rises with the rate.
  assert.ok(project(MLP, 256, 10e9, LINK, false).efficiency < project(MLP, 4, 10e9, LINK, false).efficiency);
  assert.ok(project(MLP, 64, 100e9, LINK, false).efficiency > project(MLP, 64, 10e9, LINK, false).efficiency);
  assert.deepEqual(bucketCandidates(300_000), [65_536, 131_072, 262_144, 300_000]);
});

test('fitting the link to steps the model itself produced recovers its latency and wire factor', () => {
  const truth: LinkCalibration = { alphaSec: 3e-4, wire: 1.07, reduceBytesPerSec: 1.5e9 };
  const runs = [2, 3].flatMap((nodes) =>
    [100e6, 1e9].map((linkBitsPerSec) => ({
      nodes,
      linkBitsPerSec,
      gradientBytes: MLP.gradientBytes,
      oneWorkerStepSec: 2e-3,
      stepSec: 2e-3 + ringSeconds(MLP.gradientBytes, nodes, linkBitsPerSec, truth),
    })),
  );
  const fit = fitLink(runs, truth.reduceBytesPerSec);
  close(fit.alphaSec, truth.alphaSec, 'alpha');
  close(fit.wire, truth.wire, 'wire');
  assert.throws(() => fitLink(runs.slice(0, 1), 1e9), /needs runs at two or more link rates or node counts, got 1/);
});
