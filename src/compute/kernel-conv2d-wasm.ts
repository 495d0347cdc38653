/**
 * Conv2D (forward) for the wasm backend when the native matrix product is built: the input patches
 * laid out by im2col, times the filter as a [KH*KW*C, OC] matrix, in one native call. XNNPACK's own
 * convolution runs at the speed of 128-bit wasm SIMD without FMA, which the native product beats on
 * the same core (`npm run bench:compute`). A 1x1 convolution with stride 1 and no padding
 * multiplies the input itself; one input channel is read directly (convOneChannel). Without the
 * addon, or for dilated filters, the stock kernel runs, with two repairs: NCHW data (which it refuses) is transposed to NHWC and back, and numeric
 * padding is passed as explicit padding that gives tfjs's output size (the stock kernel gives wrong
 * values for numeric padding with 'ceil' rounding, where the last window runs past the padding: a
 * test caught it).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { convGeometry, oneChannel, patchColumns, patchChunks, type ConvGeometry } from './im2col';
import { BINARY_OPS, BROADCAST } from './kernel-elementwise-wasm';
import { nativeGemm, type NativeGemm } from '../native';
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
  const fused = stockKernel('FusedConv2D');
  const add = stockKernel('Add');
  const transpose = stockKernel('Transpose');
  if (conv === undefined || fused === undefined || add === undefined || transpose === undefined) return;
  replaceWasmKernel('Conv2D', (args) => conv2d(args, conv, transpose));
  replaceWasmKernel(
    'FusedConv2D',
    (args) => fusedConv2d(args, { conv, add }) ?? run(fused, args.backend, args.inputs, args.attrs),
  );
  installed = true;
}

/**
 * FusedConv2D without an activation (tfjs-layers' Conv2D; in a ResNet, every conv before a batch
 * norm) as Conv2D here, its bias added per channel after: the stock kernel is XNNPACK's
 * convolution (see the header) and shares its numeric-padding bug. Activations, NCHW and dilation
 * go to the stock kernel.
 */
function fusedConv2d(
  { inputs, backend, attrs }: WasmKernelArgs,
  stock: { conv: KernelFunc; add: KernelFunc },
): tf.TensorInfo | undefined {
  const { x, filter, bias } = inputs as { x: tf.TensorInfo; filter: tf.TensorInfo; bias?: tf.TensorInfo };
  const conv = attrs as unknown as tf.FusedConv2DAttrs;
  const linear = conv.activation === undefined || conv.activation === 'linear';
  const dilated = !tf.backend_util.tupleValuesAreOne(conv.dilations ?? 1);
  const oc = filter.shape[3] as number;
  const plainBias = bias === undefined || (bias.dtype === 'float32' && bias.shape.length === 1 && bias.shape[0] === oc);
  if (!linear || dilated || conv.dataFormat === 'NCHW' || !plainBias) return undefined;
  const out = conv2dNhwc(backend, stock.conv, x, filter, conv);
  if (bias === undefined) return out;
  const gemm = nativeGemm();
  if (gemm === undefined) {
    const sum = run(stock.add, backend, { a: out, b: bias }, {});
    release(backend, out);
    return sum;
  }
  const { heap, offsets } = heapWithOffsets(backend, out, bias);
  const [outAt, biasAt] = offsets as [number, number];
  // Bias added in place, one value per output channel (native/channel-ops.cc).
  gemm.binaryOp(
    heap.buffer,
    BINARY_OPS.Add,
    { out: outAt, a: outAt, b: biasAt },
    tf.util.sizeFromShape(out.shape) / oc,
    oc,
    BROADCAST.channel,
    false,
  );
  return out;
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

export function conv2dNhwc(
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
  // One input channel (a grey image's first layer): patch rows of k floats are too short for the
  // product, so the input is read directly, with the product's bits (conv-one-channel.cc).
  if (!pointwise && !oneChannel(gemm, g)) return viaPatches(backend, gemm, out, x, filter, g);
  const at = heapWithOffsets(backend, out, x, filter);
  const [outAt, xAt, filterAt] = at.offsets as [number, number, number];
  if (!pointwise) gemm.convOneChannel(at.heap.buffer, outAt, xAt, filterAt, oc, g);
  else {
    const b = { at: filterAt, rowStride: oc, colStride: 1 };
    gemm.sgemm(at.heap.buffer, patches, oc, k, { at: xAt, rowStride: k, colStride: 1 }, b, outAt, oc);
  }
  return out;
}

/** out = the patch matrix (im2col) times the filter, a few samples at a time so the product reads it from cache. */
function viaPatches(
  backend: BackendWasm,
  gemm: NativeGemm,
  out: tf.TensorInfo,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  g: ConvGeometry,
): tf.TensorInfo {
  const { h, w, oh, ow, oc, taps: k } = g;
  const { chunks, rows } = patchChunks(g);
  const cols = backend.makeOutput([rows, k], 'float32');
  try {
    const at = heapWithOffsets(backend, out, x, filter, cols);
    const [outAt, xAt, filterAt, colsAt] = at.offsets as [number, number, number, number];
    for (const [b0, nb] of chunks) {
      patchColumns(at.heap, colsAt, xAt + b0 * h * w * g.c, { ...g, n: nb });
      gemm.sgemm(
        at.heap.buffer,
        nb * oh * ow,
        oc,
        k,
        { at: colsAt, rowStride: k, colStride: 1 },
        { at: filterAt, rowStride: oc, colStride: 1 },
        outAt + b0 * oh * ow * oc,
        oc,
      );
    }
    return out;
  } finally {
    release(backend, cols);
  }
}
