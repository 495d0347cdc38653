import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { floatToHalf } from '../../src/core';
import { quantizeUint8 } from '../../src/train';

test('float16 encoding rounds to nearest even and keeps the specials', () => {
  assert.equal(floatToHalf(1), 0x3c00);
  assert.equal(floatToHalf(-2), 0xc000);
  assert.equal(floatToHalf(65504), 0x7bff);
  assert.equal(floatToHalf(1e6), 0x7c00, 'overflow is infinity');
  assert.equal(floatToHalf(2 ** -24), 0x0001, 'smallest subnormal');
  assert.equal(floatToHalf(1 + 2 ** -11), 0x3c00, 'a tie rounds to the even mantissa');
  assert.equal(floatToHalf(1 + 3 * 2 ** -11), 0x3c02);
  assert.equal(floatToHalf(NaN) & 0x7e00, 0x7e00);
});

test('uint8 quantization maps min to 0 and max to 255, every value within half a step', () => {
  const v = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 0.3 - 0.05);
  const { q, min, scale } = quantizeUint8(v);
  assert.ok(Math.abs(min - Math.min(...v)) < 1e-9);
  assert.ok(Math.abs(min + 255 * scale - Math.max(...v)) < 1e-6);
  assert.equal(Math.min(...q), 0);
  assert.equal(Math.max(...q), 255);
  for (let i = 0; i < v.length; i++) assert.ok(Math.abs(q[i]! * scale + min - v[i]!) <= scale / 2 + 1e-7, `value ${i}`);
  const constant = quantizeUint8(new Float32Array([0.5, 0.5]));
  assert.deepEqual([Array.from(constant.q), constant.min, constant.scale], [[0, 0], 0.5, 1]);
});
