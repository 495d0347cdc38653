/**
 * Conv2DBackpropInput for the wasm backend. The stock kernel is a scalar loop, far slower than a
 * forward convolution of the same size (`npm run bench:compute`). Two fast ways, both exact:
 *
 * col2im (any channel count with the addon, else channels in blocks of 4): cols = dy . W^T, one
 * matrix product [N*OH*OW, OC] x [OC, KH*KW*C] (native when built, else XNNPACK's, whose right
 * operand is then the small filter, transposed), then each
 * patch row of cols is added back where its taps came from (SIMD adds of contiguous runs). This
 * does no arithmetic on padding, so it beats the convolution below on the CNN's second layer.
 *
 * Otherwise the input gradient as a forward convolution:
 *
 *   dx = conv2d(dilate(dy, stride), rot180(W) with in/out channels swapped), stride 1, 'valid',
 *
 * where dy is spread out by the stride (stride-1 zeros between rows and columns) and framed by
 * KH-1-padTop rows on top and KW-1-padLeft columns on the left, enough for an output of the
 * input's size. With stride 1 and non-negative framing the frame is passed to XNNPACK as explicit
 * padding, so dy is not copied at all; otherwise the spread-out dy is built with a JS loop, and
 * taps that fall outside the frame (windows that lie wholly in padding) are dropped: they never
 * touch the input. NCHW data is transposed to NHWC and back.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { nativeGemm, type NativeGemm } from '../native';
import { convGeometry, patchChunks, type ConvGeometry, type PatchGeometry } from './im2col';
import { conv2dNhwc } from './kernel-conv2d-wasm';
import type { SimdOps } from '../core';
import {
  NCHW_TO_NHWC,
  NHWC_TO_NCHW,
  heapF32,
  heapWithOffsets,
  release,
  replaceWasmKernel,
  run,
  simdOps,
  stockKernel,
  transposeTo,
  viewAs,
  type KernelFunc,
  type Shape4,
  type WasmKernelArgs,
} from './wasm-heap';

let installed = false;

export function installWasmConv2DBackpropInput(): void {
  if (installed) return;
  const conv = stockKernel('Conv2D');
  const transpose = stockKernel('Transpose');
  const matmul = stockKernel('BatchMatMul');
  if (conv === undefined || transpose === undefined || matmul === undefined) return;
  replaceWasmKernel('Conv2DBackpropInput', (args) => conv2dBackpropInput(args, { conv, transpose, matmul }));
  installed = true;
}

interface Stock {
  conv: KernelFunc;
  transpose: KernelFunc;
  matmul: KernelFunc;
}

function conv2dBackpropInput({ inputs, backend, attrs }: WasmKernelArgs, stock: Stock): tf.TensorInfo {
  const { transpose } = stock;
  const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const { inputShape, strides, pad, dataFormat, dimRoundingMode } = attrs as unknown as tf.Conv2DBackpropInputAttrs;
  if (dataFormat === 'NCHW') {
    const [n, c, h, w] = inputShape;
    const dyt = transposeTo(transpose, backend, dy, NCHW_TO_NHWC);
    let dx: tf.TensorInfo | undefined;
    try {
      dx = inputGradient(backend, stock, dyt, filter, [n, h, w, c], strides, pad, dimRoundingMode);
      return transposeTo(transpose, backend, dx, NHWC_TO_NCHW);
    } finally {
      release(backend, dyt);
      if (dx !== undefined) release(backend, dx);
    }
  }
  return inputGradient(backend, stock, dy, filter, inputShape, strides, pad, dimRoundingMode);
}

function inputGradient(
  backend: BackendWasm,
  stock: Stock,
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  inputShape: Shape4,
  strides: tf.Conv2DBackpropInputAttrs['strides'],
  pad: tf.Conv2DBackpropInputAttrs['pad'],
  dimRoundingMode: tf.Conv2DBackpropInputAttrs['dimRoundingMode'],
): tf.TensorInfo {
  const info = tf.backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as Shape4,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow, outChannels: oc } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  // The framed, spread-out dy is (h + kh - 1) x (w + kw - 1): a 'valid' kh x kw conv of it is h x w.
  const top = kh - 1 - info.padInfo.top;
  const left = kw - 1 - info.padInfo.left;
  const bottom = h + kh - 1 - top - ((oh - 1) * sh + 1);
  const right = w + kw - 1 - left - ((ow - 1) * sw + 1);
  const framedOnly = sh === 1 && sw === 1 && top >= 0 && left >= 0 && bottom >= 0 && right >= 0;
  const gemm = nativeGemm();
  // With the addon: stride 1 into 16 or more channels as a forward convolution (a ResNet's
  // [64,28,28,16] 3x3: 4.4 -> 3.1 ms, the product's columns are the input's channels), any other
  // case through the product and col2im (the stem's single channel: 3.1 ms as a convolution with
  // one output channel, 2.0 this way).
  if (gemm !== undefined && !(framedOnly && c >= 16))
    return nativeCol2im(backend, gemm, dy, filter, convGeometry(info));
  const simd = simdOps(backend);
  if (gemm === undefined && simd !== undefined && c % 4 === 0) {
    return col2im(backend, stock, simd, dy, filter, info);
  }
  const rotated = backend.makeOutput([kh, kw, oc, c], 'float32');
  rotateFilter(heapF32(backend, rotated), heapF32(backend, filter), kh, kw, c, oc);
  const convAttrs: Omit<tf.Conv2DAttrs, 'pad'> = {
    strides: [1, 1],
    dilations: [1, 1],
    dataFormat: 'NHWC',
    dimRoundingMode: undefined,
  };
  try {
    if (framedOnly) {
      const explicit: tf.backend_util.ExplicitPadding = [
        [0, 0],
        [top, bottom],
        [left, right],
        [0, 0],
      ];
      const attrs = { ...convAttrs, pad: explicit };
      return gemm === undefined
        ? run(stock.conv, backend, { x: dy, filter: rotated }, attrs)
        : conv2dNhwc(backend, stock.conv, dy, rotated, attrs);
    }
    const framed = backend.makeOutput([n, h + kh - 1, w + kw - 1, oc], 'float32');
    try {
      spread(heapF32(backend, framed), heapF32(backend, dy), {
        n,
        oh,
        ow,
        oc,
        sh,
        sw,
        top,
        left,
        fh: h + kh - 1,
        fw: w + kw - 1,
      });
      return run(stock.conv, backend, { x: framed, filter: rotated }, { ...convAttrs, pad: 'valid' });
    } finally {
      release(backend, framed);
    }
  } finally {
    release(backend, rotated);
  }
}

/** out[i,j,o,ci] = w[kh-1-i, kw-1-j, ci, o]: the filter turned 180 degrees, channels swapped. */
function rotateFilter(out: Float32Array, wv: Float32Array, kh: number, kw: number, c: number, oc: number): void {
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const src = ((kh - 1 - i) * kw + (kw - 1 - j)) * c * oc;
      const dst = (i * kw + j) * oc * c;
      for (let o = 0; o < oc; o++) {
        for (let ci = 0; ci < c; ci++) out[dst + o * c + ci] = wv[src + ci * oc + o] as number;
      }
    }
  }
}

interface SpreadGeometry {
  n: number;
  oh: number;
  ow: number;
  oc: number;
  sh: number;
  sw: number;
  top: number;
  left: number;
  /** Frame height and width. */
  fh: number;
  fw: number;
}

/** out = zeros, then out[b, top + r*sh, left + q*sw, :] = dy[b, r, q, :] wherever that is inside. */
function spread(out: Float32Array, dyv: Float32Array, g: SpreadGeometry): void {
  const { n, oh, ow, oc, sh, sw, top, left, fh, fw } = g;
  out.fill(0);
  const qLo = Math.min(ow, Math.max(0, Math.ceil(-left / sw)));
  const qHi = Math.max(qLo, Math.min(ow, Math.floor((fw - 1 - left) / sw) + 1));
  for (let b = 0; b < n; b++) {
    for (let r = 0; r < oh; r++) {
      const row = top + r * sh;
      if (row < 0 || row >= fh) continue;
      const srcRow = (b * oh + r) * ow * oc;
      const dstRow = (b * fh + row) * fw * oc;
      if (sw === 1) {
        out.set(dyv.subarray(srcRow + qLo * oc, srcRow + qHi * oc), dstRow + (left + qLo) * oc);
        continue;
      }
      for (let q = qLo; q < qHi; q++) {
        const src = srcRow + q * oc;
        const dst = dstRow + (left + q * sw) * oc;
        for (let o = 0; o < oc; o++) out[dst + o] = dyv[src + o] as number;
      }
    }
  }
}

/** dx via cols = dy . W^T and a scatter-add of each patch row back onto the input grid. */
function col2im(
  backend: BackendWasm,
  stock: Stock,
  simd: SimdOps,
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  info: tf.backend_util.Conv2DInfo,
): tf.TensorInfo {
  const geometry = convGeometry(info);
  const { n, h, w, c, oc, patches, taps: k } = geometry;
  // XNNPACK needs W^T transposed first.
  const filterT = run(stock.transpose, backend, { x: viewAs(filter, [k, oc]) }, { perm: [1, 0] });
  let cols: tf.TensorInfo | undefined;
  try {
    cols = run(
      stock.matmul,
      backend,
      { a: viewAs(dy, [1, patches, oc]), b: viewAs(filterT, [1, oc, k]) },
      { transposeA: false, transposeB: false },
    );
    const dx = backend.makeOutput([n, h, w, c], 'float32');
    const dxView = heapF32(backend, dx);
    dxView.fill(0);
    addPatches(simd, dxView.byteOffset, heapF32(backend, cols).byteOffset, geometry);
    return dx;
  } finally {
    release(backend, filterT);
    if (cols !== undefined) release(backend, cols);
  }
}

/**
 * The same with the native product and scatter (patches.cc), a few samples at a time so each
 * chunk of cols is read back from cache (im2col.ts). A sample's patches only touch its own part
 * of dx, so the additions happen in the same order as in one pass.
 */
function nativeCol2im(
  backend: BackendWasm,
  gemm: NativeGemm,
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  g: ConvGeometry,
): tf.TensorInfo {
  const { n, h, w, c, oh, ow, oc, taps: k } = g;
  const { chunks, rows } = patchChunks(g);
  const cols = backend.makeOutput([rows, k], 'float32');
  const dx = backend.makeOutput([n, h, w, c], 'float32');
  try {
    const { heap, offsets } = heapWithOffsets(backend, cols, dy, filter, dx);
    const [colsAt, dyAt, filterAt, dxAt] = offsets as [number, number, number, number];
    heap.fill(0, dxAt, dxAt + n * h * w * c);
    // The native product reads W^T through its strides.
    const filterT = { at: filterAt, rowStride: 1, colStride: oc };
    for (const [b0, nb] of chunks) {
      const dyChunk = { at: dyAt + b0 * oh * ow * oc, rowStride: oc, colStride: 1 };
      gemm.sgemm(heap.buffer, nb * oh * ow, k, oc, dyChunk, filterT, colsAt, k);
      gemm.col2im(heap.buffer, dxAt + b0 * h * w * c, colsAt, { ...g, n: nb });
    }
    return dx;
  } finally {
    release(backend, cols);
  }
}

/** col2im's scatter-add without the addon: one SIMD add per run of taps (byte addresses). */
function addPatches(simd: SimdOps, dxAt: number, colsAt: number, g: PatchGeometry): void {
  const { n, h, w, c, oh, ow, kh, kw, sh, sw, top, left } = g;
  const tapBytes = c * 4;
  let src = colsAt;
  for (let b = 0; b < n; b++) {
    for (let r = 0; r < oh; r++) {
      for (let q = 0; q < ow; q++, src += kh * kw * tapBytes) {
        const col0 = q * sw - left;
        // Taps j in [jLo, jHi) land inside the row, on consecutive input columns.
        const jLo = Math.max(0, -col0);
        const jHi = Math.min(kw, w - col0);
        if (jHi <= jLo) continue;
        for (let i = 0; i < kh; i++) {
          const row = r * sh - top + i;
          if (row < 0 || row >= h) continue;
          simd.addInto(
            dxAt + ((b * h + row) * w + col0 + jLo) * tapBytes,
            src + (i * kw + jLo) * tapBytes,
            (jHi - jLo) * c,
          );
        }
      }
    }
  }
}
