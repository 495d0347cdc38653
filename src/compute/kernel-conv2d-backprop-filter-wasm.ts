/**
 * Conv2DBackpropFilter for the wasm backend, which has none (tfjs-backend-wasm 4.22 cannot train
 * a convolution without it). The filter gradient is one matrix product:
 *
 *   dW[kh,kw,c,oc] = sum over (n,oh,ow) of x[n, oh*sh - padTop + kh, ow*sw - padLeft + kw, c] * dy[n,oh,ow,oc]
 *
 * The kernel lays the input patches out as cols [N*OH*OW, KH*KW*C] (im2col: each patch row is runs
 * of C contiguous floats copied straight from x; out-of-bounds taps are zeros), then multiplies
 * cols^T . dy: with the native matrix product when it is there, a few samples at a time, reading
 * cols^T in place (nativeFilterGradient); otherwise with the stock XNNPACK kernels, transposing
 * with XNNPACK too (writing cols already transposed from JS is a strided gather that took longer
 * than the product). Every stride and padding takes this path (conv2d gradients always have
 * dilation 1); NCHW data is transposed to NHWC first. One input channel reads the input directly.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  NCHW_TO_NHWC,
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
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { convGeometry, oneChannel, patchColumns, patchChunks, type ConvGeometry } from './im2col';
import { nativeGemm, type NativeGemm } from '../native';

/**
 * Up to this many taps per output channel (KH*KW*C), the product runs as a SIMD outer-product
 * accumulation over the patches instead: XNNPACK would first transpose and repack a matrix of
 * patches x channels, which for a short filter (the CNN's first conv, 9 taps) costs more than
 * the product.
 */
const SIMD_MAX_TAPS = 16;

let installed = false;

export function installWasmConv2DBackpropFilter(): void {
  if (installed) return;
  const matmul = stockKernel('BatchMatMul');
  const transpose = stockKernel('Transpose');
  if (matmul === undefined || transpose === undefined) return;
  replaceWasmKernel('Conv2DBackpropFilter', (args) => conv2dBackpropFilter(args, { matmul, transpose }));
  installed = true;
}

interface Stock {
  matmul: KernelFunc;
  transpose: KernelFunc;
}

function conv2dBackpropFilter({ inputs, backend, attrs }: WasmKernelArgs, stock: Stock): tf.TensorInfo {
  const { transpose } = stock;
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  if (dataFormat === 'NCHW') {
    const xt = transposeTo(transpose, backend, x, NCHW_TO_NHWC);
    const dyt = transposeTo(transpose, backend, dy, NCHW_TO_NHWC);
    try {
      return filterGradient(backend, stock, xt, dyt, filterShape, strides, pad, dimRoundingMode);
    } finally {
      release(backend, xt, dyt);
    }
  }
  return filterGradient(backend, stock, x, dy, filterShape, strides, pad, dimRoundingMode);
}

function filterGradient(
  backend: BackendWasm,
  stock: Stock,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  filterShape: Shape4,
  strides: tf.Conv2DBackpropFilterAttrs['strides'],
  pad: tf.Conv2DBackpropFilterAttrs['pad'],
  dimRoundingMode: tf.Conv2DBackpropFilterAttrs['dimRoundingMode'],
): tf.TensorInfo {
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as Shape4,
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
  const geometry = convGeometry(info);
  const gemm = nativeGemm();
  if (gemm !== undefined) return viewAs(nativeFilterGradient(backend, gemm, x, dy, geometry), filterShape);
  const { oc, patches, taps: k } = geometry;
  const matmul = (a: tf.TensorInfo, b: tf.TensorInfo): tf.TensorInfo =>
    run(stock.matmul, backend, { a, b }, { transposeA: false, transposeB: false });
  const cols = backend.makeOutput([patches, k], 'float32');
  const temps: tf.TensorInfo[] = [cols];
  try {
    const { heap, offsets } = heapWithOffsets(backend, cols, x);
    patchColumns(heap, offsets[0] as number, offsets[1] as number, geometry);
    const simd = k <= SIMD_MAX_TAPS && oc % 4 === 0 ? simdOps(backend) : undefined;
    if (simd !== undefined) {
      const dw = backend.makeOutput([k, oc], 'float32');
      const at = heapWithOffsets(backend, cols, dy, dw);
      const [colsAt, dyAt, dwAt] = at.offsets as [number, number, number];
      at.heap.fill(0, dwAt, dwAt + k * oc);
      simd.outerAccumulate(colsAt * 4, dyAt * 4, dwAt * 4, patches, k, oc);
      return viewAs(dw, filterShape);
    }
    const transpose = (t: tf.TensorInfo, rows: number, columns: number): tf.TensorInfo =>
      run(stock.transpose, backend, { x: viewAs(t, [rows, columns]) }, { perm: [1, 0] });
    if (k <= oc) {
      // dW^T = dy^T . cols. XNNPACK repacks its right operand on every call, so the smaller
      // matrix goes there (the first conv: cols is 43264 x 9).
      const dyT = transpose(dy, patches, oc);
      temps.push(dyT);
      const dwT = matmul(viewAs(dyT, [1, oc, patches]), viewAs(cols, [1, patches, k]));
      temps.push(dwT);
      return viewAs(transpose(dwT, oc, k), filterShape);
    }
    // dW = cols^T . dy, with dy (the smaller) on the right.
    const colsT = transpose(cols, patches, k);
    temps.push(colsT);
    return viewAs(matmul(viewAs(colsT, [1, k, patches]), viewAs(dy, [1, patches, oc])), filterShape);
  } finally {
    release(backend, ...temps);
  }
}

/**
 * dW = cols^T . dy accumulated a few samples at a time, the patch matrix of each chunk read from
 * cache (im2col.ts); the native product reads cols^T in place (its columns are cols' rows).
 */
function nativeFilterGradient(
  backend: BackendWasm,
  gemm: NativeGemm,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  g: ConvGeometry,
): tf.TensorInfo {
  const { h, w, c, oh, ow, oc, taps: k } = g;
  const { chunks, rows } = patchChunks(g);
  if (oneChannel(gemm, g)) return oneChannelFilterGradient(backend, gemm, x, dy, g, chunks);
  const cols = backend.makeOutput([rows, k], 'float32');
  const dw = backend.makeOutput([k, oc], 'float32');
  try {
    const { heap, offsets } = heapWithOffsets(backend, cols, x, dy, dw);
    const [colsAt, xAt, dyAt, dwAt] = offsets as [number, number, number, number];
    heap.fill(0, dwAt, dwAt + k * oc);
    const colsT = { at: colsAt, rowStride: 1, colStride: k };
    for (const [b0, nb] of chunks) {
      patchColumns(heap, colsAt, xAt + b0 * h * w * c, { ...g, n: nb });
      const dyChunk = { at: dyAt + b0 * oh * ow * oc, rowStride: oc, colStride: 1 };
      gemm.sgemm(heap.buffer, k, oc, nb * oh * ow, colsT, dyChunk, dwAt, oc, true);
    }
    return dw;
  } finally {
    release(backend, cols);
  }
}

/**
 * One input channel: its patch rows (k floats) are too short for the product to pay for laying
 * them out, so the input is read directly (conv-one-channel.cc), chunk by chunk as the product
 * would have summed it, for the same bits.
 */
function oneChannelFilterGradient(
  backend: BackendWasm,
  gemm: NativeGemm,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  g: ConvGeometry,
  chunks: [number, number][],
): tf.TensorInfo {
  const { h, w, oh, ow, oc, taps: k } = g;
  const dw = backend.makeOutput([k, oc], 'float32');
  const { heap, offsets } = heapWithOffsets(backend, x, dy, dw);
  const [xAt, dyAt, dwAt] = offsets as [number, number, number];
  heap.fill(0, dwAt, dwAt + k * oc);
  for (const [b0, nb] of chunks)
    gemm.convOneChannelFilterGrad(heap.buffer, dwAt, xAt + b0 * h * w, dyAt + b0 * oh * ow * oc, oc, { ...g, n: nb });
  return dw;
}
