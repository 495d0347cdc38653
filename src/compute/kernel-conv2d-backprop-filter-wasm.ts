/**
 * Conv2DBackpropFilter for the wasm backend, which has none (tfjs-backend-wasm 4.22 cannot train
 * a convolution without it). The filter gradient is one matrix product:
 *
 *   dW[kh,kw,c,oc] = sum over (n,oh,ow) of x[n, oh*sh - padTop + kh, ow*sw - padLeft + kw, c] * dy[n,oh,ow,oc]
 *
 * so the kernel lays the input patches out as a [KH*KW*C, N*OH*OW] matrix (im2col, transposed
 * so that no transpose is needed later; out-of-bounds taps are zeros), then multiplies it by dy
 * viewed as [N*OH*OW, OC] with the stock XNNPACK BatchMatMul. Every stride and padding works the
 * same way (gradients of conv2d always have dilation 1); NCHW data is transposed to NHWC first.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  NCHW_TO_NHWC,
  heapF32,
  release,
  replaceWasmKernel,
  run,
  stockKernel,
  transposeTo,
  viewAs,
  type KernelFunc,
  type Shape4,
  type WasmKernelArgs,
} from './wasm-heap';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

let installed = false;

export function installWasmConv2DBackpropFilter(): void {
  if (installed) return;
  const matmul = stockKernel('BatchMatMul');
  const transpose = stockKernel('Transpose');
  if (matmul === undefined || transpose === undefined) return;
  replaceWasmKernel('Conv2DBackpropFilter', (args) => conv2dBackpropFilter(args, matmul, transpose));
  installed = true;
}

function conv2dBackpropFilter({ inputs, backend, attrs }: WasmKernelArgs, matmul: KernelFunc, transpose: KernelFunc): tf.TensorInfo {
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  if (dataFormat === 'NCHW') {
    const xt = transposeTo(transpose, backend, x, NCHW_TO_NHWC);
    const dyt = transposeTo(transpose, backend, dy, NCHW_TO_NHWC);
    try {
      return filterGradient(backend, matmul, xt, dyt, filterShape, strides, pad, dimRoundingMode);
    } finally {
      release(backend, xt, dyt);
    }
  }
  return filterGradient(backend, matmul, x, dy, filterShape, strides, pad, dimRoundingMode);
}

function filterGradient(
  backend: BackendWasm,
  matmul: KernelFunc,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  filterShape: Shape4,
  strides: tf.Conv2DBackpropFilterAttrs['strides'],
  pad: tf.Conv2DBackpropFilterAttrs['pad'],
  dimRoundingMode: tf.Conv2DBackpropFilterAttrs['dimRoundingMode'],
): tf.TensorInfo {
  const info = tf.backend_util.computeConv2DInfo(x.shape as Shape4, filterShape, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow, outChannels: oc } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const patches = n * oh * ow;
  const k = kh * kw * c;
  const cols = backend.makeOutput([1, k, patches], 'float32');
  fillColumns(heapF32(backend, cols), heapF32(backend, x), { n, h, w, c, oh, ow, kh, kw, sh, sw, top: info.padInfo.top, left: info.padInfo.left });
  try {
    const out = run(matmul, backend, { a: cols, b: viewAs(dy, [1, patches, oc]) }, { transposeA: false, transposeB: false });
    return viewAs(out, filterShape);
  } finally {
    release(backend, cols);
  }
}

interface PatchGeometry {
  n: number;
  h: number;
  w: number;
  c: number;
  oh: number;
  ow: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  top: number;
  left: number;
}

/** cols[(i*KW + j)*C + ch][(b*OH + r)*OW + q] = x[b, r*sh - top + i, q*sw - left + j, ch], or 0 outside. */
function fillColumns(cols: Float32Array, xv: Float32Array, g: PatchGeometry): void {
  const { n, h, w, c, oh, ow, kh, kw, sh, sw, top, left } = g;
  let o = 0;
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      // Output columns whose tap j lands inside the input: 0 <= q*sw - left + j < w.
      const qLo = Math.min(ow, Math.max(0, Math.ceil((left - j) / sw)));
      const qHi = Math.max(qLo, Math.min(ow, Math.floor((w - 1 + left - j) / sw) + 1));
      for (let ch = 0; ch < c; ch++) {
        for (let b = 0; b < n; b++) {
          for (let r = 0; r < oh; r++) {
            const row = r * sh - top + i;
            if (row < 0 || row >= h) {
              cols.fill(0, o, o + ow);
              o += ow;
              continue;
            }
            if (qLo > 0) cols.fill(0, o, o + qLo);
            const base = ((b * h + row) * w - left + j) * c + ch;
            const step = sw * c;
            for (let q = qLo, src = base + qLo * step; q < qHi; q++, src += step) cols[o + q] = xv[src] as number;
            if (qHi < ow) cols.fill(0, o + qHi, o + ow);
            o += ow;
          }
        }
      }
    }
  }
}
