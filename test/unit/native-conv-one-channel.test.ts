/**
 * The one-input-channel convolutions (native/conv-one-channel.cc) against im2col and the native
 * product they replace, bit for bit: the same fused multiply-adds in the same order, over
 * geometries with padding, strides, rectangular filters and one to three registers of output
 * channels. They run only where the product runs its AVX-512 kernels (im2col.ts oneChannel).
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { patchChunks } from '../../src/compute/im2col';
import { nativeGemm, type NativeGemm, type Patches } from '../../src/native';
import { seededNormals } from './support';

interface Case {
  name: string;
  g: Patches;
  oc: number;
}

const grey = (n: number, h: number, w: number): Pick<Patches, 'n' | 'h' | 'w' | 'c'> => ({ n, h, w, c: 1 });

const CASES: Case[] = [
  {
    name: 'ResNet stem, 3x3 same, 16 channels',
    g: { ...grey(5, 28, 28), oh: 28, ow: 28, kh: 3, kw: 3, sh: 1, sw: 1, top: 1, left: 1 },
    oc: 16,
  },
  {
    name: '3x3 valid, 32 channels',
    g: { ...grey(3, 14, 13), oh: 12, ow: 11, kh: 3, kw: 3, sh: 1, sw: 1, top: 0, left: 0 },
    oc: 32,
  },
  {
    name: 'stride 2, same, 48 channels',
    g: { ...grey(2, 9, 8), oh: 5, ow: 4, kh: 3, kw: 3, sh: 2, sw: 2, top: 1, left: 1 },
    oc: 48,
  },
  {
    name: '4x4 filter, strides [1, 2], 16 channels',
    g: { ...grey(3, 10, 11), oh: 9, ow: 6, kh: 4, kw: 4, sh: 1, sw: 2, top: 1, left: 2 },
    oc: 16,
  },
  {
    name: 'one tap, 16 channels',
    g: { ...grey(2, 5, 5), oh: 5, ow: 5, kh: 1, kw: 1, sh: 1, sw: 1, top: 0, left: 0 },
    oc: 16,
  },
];

/** Offsets of consecutive buffers of these sizes in one heap, and the heap. */
function layout(sizes: number[]): { heap: Float32Array; at: number[] } {
  const at: number[] = [];
  let total = 0;
  for (const s of sizes) {
    at.push(total);
    total += s;
  }
  return { heap: new Float32Array(total), at };
}

/** The forward outputs and filter gradients both ways: [direct, im2col + product]. */
function bothWays(gemm: NativeGemm, c: Case, salt: number): [Float32Array, Float32Array][] {
  const { g, oc } = c;
  const k = g.kh * g.kw;
  const pixels = g.n * g.oh * g.ow;
  const { chunks, rows } = patchChunks(g);
  const { heap, at } = layout([
    g.n * g.h * g.w,
    k * oc,
    pixels * oc,
    pixels * oc,
    pixels * oc,
    k * oc,
    k * oc,
    rows * k,
  ]);
  const [x, f, dy, outA, outB, dwA, dwB, cols] = at as [number, number, number, number, number, number, number, number];
  heap.set(seededNormals(7, g.n * g.h * g.w, salt), x);
  heap.set(seededNormals(7, k * oc, salt + 1), f);
  heap.set(seededNormals(7, pixels * oc, salt + 2), dy);
  gemm.convOneChannel(heap.buffer, outA, x, f, oc, g);
  for (const [b0, nb] of chunks)
    gemm.convOneChannelFilterGrad(heap.buffer, dwA, x + b0 * g.h * g.w, dy + b0 * g.oh * g.ow * oc, oc, {
      ...g,
      n: nb,
    });
  for (const [b0, nb] of chunks) {
    const chunk = { ...g, n: nb };
    gemm.im2col(heap.buffer, cols, x + b0 * g.h * g.w, chunk);
    const out = outB + b0 * g.oh * g.ow * oc;
    gemm.sgemm(
      heap.buffer,
      nb * g.oh * g.ow,
      oc,
      k,
      { at: cols, rowStride: k, colStride: 1 },
      { at: f, rowStride: oc, colStride: 1 },
      out,
      oc,
    );
    const dyChunk = { at: dy + b0 * g.oh * g.ow * oc, rowStride: oc, colStride: 1 };
    gemm.sgemm(heap.buffer, k, oc, nb * g.oh * g.ow, { at: cols, rowStride: 1, colStride: k }, dyChunk, dwB, oc, true);
  }
  const view = (o: number, n: number): Float32Array => heap.slice(o, o + n);
  return [
    [view(outA, pixels * oc), view(outB, pixels * oc)],
    [view(dwA, k * oc), view(dwB, k * oc)],
  ];
}

const gemm = nativeGemm();
// Skipped only on a CPU without AVX-512; a missing addon is an install problem and fails.
const skip =
  gemm !== undefined && gemm.oneChannel.lanes === 0 ? 'no AVX-512 here: the one-channel kernels do not run' : false;

for (const [i, c] of CASES.entries()) {
  test(`one-channel convolution and its filter gradient give the product's bits: ${c.name}`, { skip }, () => {
    assert.ok(gemm !== undefined, 'the native addon is not built: run npm ci');
    const [[out, outRef], [dw, dwRef]] = bothWays(gemm, c, 10 * i);
    assert.ok(outRef.some((v) => v !== 0) && dwRef.some((v) => v !== 0), 'the reference is not all zeros');
    assert.deepEqual(out, outRef, 'forward outputs');
    assert.deepEqual(dw, dwRef, 'filter gradient');
  });
}

test(
  'the one-channel convolution refuses more than one input channel, buffers outside the heap and partial registers of channels',
  { skip },
  () => {
    const g: Patches = { n: 1, h: 4, w: 4, c: 2, oh: 2, ow: 2, kh: 3, kw: 3, sh: 1, sw: 1, top: 0, left: 0 };
    const heap = new Float32Array(256);
    assert.ok(gemm !== undefined, 'the native addon is not built: run npm ci');
    const conv = gemm.convOneChannel;
    assert.throws(() => conv(heap.buffer, 0, 64, 128, 16, g), /one input channel/);
    assert.throws(() => conv(heap.buffer, 200, 0, 64, 16, { ...g, c: 1 }), /inside the heap/);
    assert.throws(() => conv(heap.buffer, 0, 64, 128, 8, { ...g, c: 1 }), /multiples of 16; use im2col/);
  },
);
