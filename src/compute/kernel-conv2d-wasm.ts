/**
 * Conv2D (forward) for the wasm backend when the native matrix product is built: the input patches
 * laid out by im2col, times the filter as a [KH*KW*C, OC] matrix, in one native call. XNNPACK's own
 * convolution runs at the speed of 128-bit wasm SIMD without FMA, which the native product beats on
 * the same core (`npm run bench:compute`). A 1x1 convolution with stride 1 and no padding
 * multiplies the input itself. Without the addon, or for dilated filters, the stock kernel runs,
 * with two repairs: NCHW data (which it refuses) is transposed to NHWC and back, and numeric
 * padding is passed as explicit padding that gives tfjs's output size (the stock kernel gives wrong
 * values for numeric padding with 'ceil' rounding, where the last window runs past the padding: a
 * test caught it).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { convGeometry, fillColumns } from './im2col';
import { nativeGemm } from '../native';
import {
  NCHW_TO_NHWC,
  NHWC_TO_NCHW,
  heapWithOffsets,
  release,
  replaceWasmKernel,
  run,
  stockKernel,
  transposeTo,
  type KernelFunc,
  type Shape4,
  type WasmKernelArgs,
} from './wasm-heap';

let installed = false;

export function installWasmConv2D(): void {
  if (installed) return;
  const conv = stockKernel('Conv2D');
  const transpose = stockKernel('Transpose');
  if (conv === undefined || transpose === undefined) return;
  replaceWasmKernel('Conv2D', (args) => conv2d(args, conv, transpose));
  installed = true;
}

function conv2d(args: WasmKernelArgs, stock: KernelFunc, transpose: KernelFunc): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, filter } = inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
  const conv = attrs as unknown as tf.Conv2DAttrs;
  if (conv.dataFormat !== 'NCHW') return conv2dNhwc(backend, stock, x, filter, conv);
  const xt = transposeTo(transpose, backend, x, NCHW_TO_NHWC);
  let out: tf.TensorInfo | undefined;
  try {
    out = conv2dNhwc(backend, stock, xt, filter, { ...conv, dataFormat: 'NHWC' });
    return transposeTo(transpose, backend, out, NHWC_TO_NCHW);
  } finally {
    release(backend, xt);
    if (out !== undefined) release(backend, out);
  }
}

function conv2dNhwc(
  backend: BackendWasm,
  stock: KernelFunc,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  attrs: tf.Conv2DAttrs,
): tf.TensorInfo {
  const { strides, pad, dilations, dimRoundingMode } = attrs;
  const gemm = nativeGemm();
  const dilated = !tf.backend_util.tupleValuesAreOne(dilations ?? 1);
  if (gemm === undefined || dilated || x.dtype !== 'float32' || filter.dtype !== 'float32') {
    let stockPad = pad;
    if (typeof pad === 'number') {
      // Bottom and right padding that give tfjs's output size with floor rounding too (never
      // negative: rows past the last window are simply not read).
      const i = tf.backend_util.computeConv2DInfo(
        x.shape as Shape4,
        filter.shape as Shape4,
        strides,
        dilations ?? 1,
        pad,
        dimRoundingMode,
        false,
        'channelsLast',
      );
      const { top, left } = i.padInfo;
      const bottom = Math.max(0, (i.outHeight - 1) * i.strideHeight + i.effectiveFilterHeight - i.inHeight - top);
      const right = Math.max(0, (i.outWidth - 1) * i.strideWidth + i.effectiveFilterWidth - i.inWidth - left);
      stockPad = [
        [0, 0],
        [top, bottom],
        [left, right],
        [0, 0],
      ];
    }
    return run(stock, backend, { x, filter }, { ...attrs, pad: stockPad, dimRoundingMode: undefined });
  }
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as Shape4,
    filter.shape as Shape4,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
  const g = convGeometry(info);
  const { n, h, w, oh, ow, oc, kh, kw, sh, sw, top, left, patches, taps: k } = g;
  const out = backend.makeOutput([n, oh, ow, oc], 'float32');
  if (patches * oc === 0) return out;
  const pointwise = kh === 1 && kw === 1 && sh === 1 && sw === 1 && top === 0 && left === 0 && oh === h && ow === w;
  const cols = pointwise ? undefined : backend.makeOutput([patches, k], 'float32');
  try {
    const at = heapWithOffsets(backend, out, x, filter, ...(cols === undefined ? [] : [cols]));
    const [outAt, xAt, filterAt, colsAt] = at.offsets as [number, number, number, number | undefined];
    if (colsAt !== undefined) fillColumns(at.heap, colsAt, xAt, g);
    gemm.sgemm(
      at.heap.buffer,
      patches,
      oc,
      k,
      { at: colsAt ?? xAt, rowStride: k, colStride: 1 },
      { at: filterAt, rowStride: oc, colStride: 1 },
      outAt,
      oc,
    );
    return out;
  } finally {
    if (cols !== undefined) release(backend, cols);
  }
}
