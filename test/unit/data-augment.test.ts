import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { DEFAULT_JOB } from '../../src/config';
import { augmenter, cropPadded, flipHorizontal, rotate, type ImageShape } from '../../src/data';

const SHAPE: ImageShape = [3, 3, 1];
const IMG = Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8]);

test('horizontal flip mirrors each row', () => {
  const out = new Float32Array(9);
  flipHorizontal(IMG, out, SHAPE);
  assert.deepEqual(Array.from(out), [2, 1, 0, 5, 4, 3, 8, 7, 6]);
});

test('a padded crop shifts the image and fills from outside with the fill value', () => {
  const out = new Float32Array(9);
  // Padding 1, crop offset (2, 0): the image moves left by 1 and down by 1.
  cropPadded(IMG, out, SHAPE, 1, 2, 0, -9);
  assert.deepEqual(Array.from(out), [-9, -9, -9, 1, 2, -9, 4, 5, -9]);
  cropPadded(IMG, out, SHAPE, 1, 1, 1, -9);
  assert.deepEqual(out, IMG, 'the centered crop is the identity');
});

test('rotation by 90 degrees turns the image counter-clockwise; by 45 it interpolates bilinearly', () => {
  const out = new Float32Array(9);
  rotate(IMG, out, SHAPE, 90, -1);
  assert.deepEqual(
    Array.from(out).map((v) => Math.round(v * 1e6) / 1e6),
    [2, 5, 8, 1, 4, 7, 0, 3, 6],
  );
  rotate(IMG, out, SHAPE, 45, 0);
  // The center stays; the top-middle output pixel (x 1, y 0) samples the source at
  // (x, y) = (1 + sin45, 1 - cos45) = (1.7071, 0.2929): bilinear between pixels 1, 2 (row 0)
  // and 4, 5 (row 1) with fx = 0.7071, fy = 0.2929.
  assert.ok(Math.abs(out[4]! - 4) < 1e-9);
  const fx = Math.SQRT1_2;
  const fy = 1 - Math.SQRT1_2;
  const want = (1 * (1 - fx) + 2 * fx) * (1 - fy) + (4 * (1 - fx) + 5 * fx) * fy;
  assert.ok(Math.abs(out[1]! - want) < 1e-6, `got ${out[1]}, want ${want}`);
});

test('augmentation depends only on (seed, epoch, sample): repeatable, and different across epochs', () => {
  const spec = { ...DEFAULT_JOB.data.augment, cropPadding: 2, flip: true, rotate: 15 };
  const shape: ImageShape = [8, 8, 1];
  const make = augmenter(spec, shape, -0.5, 42)!;
  const base = Float32Array.from({ length: 2 * 64 }, (_, i) => (i % 64) / 64);
  const run = (epoch: number, idx: number[]): Float32Array => {
    const batch = { x: base.slice(), y: new Int32Array(2) };
    make(epoch)(batch, Int32Array.from(idx), 0);
    return batch.x;
  };
  const a = run(3, [10, 11]);
  assert.deepEqual(run(3, [10, 11]), a);
  // The same sample gives the same result in another batch position: position plays no part.
  assert.deepEqual(run(3, [99, 10]).subarray(64), a.subarray(0, 64));
  assert.notDeepEqual(run(4, [10, 11]), a);
  assert.notDeepEqual(a, base, 'nothing changed');
  assert.ok(
    a.every((v) => v >= -0.5 - 1e-6 && v <= 1),
    'values stay between the fill and the image range',
  );
  assert.equal(augmenter(DEFAULT_JOB.data.augment, shape, 0, 1), undefined, 'all off: no transform');
  assert.throws(() => augmenter(spec, undefined, 0, 1), /data.augment .* works on images only/);
});
