/**
 * MaxPoolGrad for the wasm backend, whose stock kernel took as long as the convolution beside it.
 * 2x2 stride-2 pooling with every window inside the input (the CNN's, channels in blocks of 4)
 * runs as SIMD; every other size, stride and padding runs a branchy JS loop, the fallback rather
 * than the fast path (`npm run bench:compute` compares them). Max pooling gradients have no
 * dilation.
 *
 * Each output cell sends its gradient to the first maximum of its window in row-major order
 * (strictly greater wins, so ties go to the earliest tap, as in the cpu backend and PyTorch);
 * cells whose windows overlap add up. After a ReLU many windows are all zeros, so the tie rule
 * matters for matching the cpu backend exactly. A window with no maximum above -Infinity (all
 * -Infinity or NaN) passes no gradient, as in the cpu backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import { heapF32, replaceWasmKernel, simdOps, type Shape4, type WasmKernelArgs } from './wasm-heap';

let installed = false;

export function installWasmMaxPoolGrad(): void {
  if (installed) return;
  replaceWasmKernel('MaxPoolGrad', maxPoolGrad);
  installed = true;
}

function maxPoolGrad({ inputs, backend, attrs }: WasmKernelArgs): tf.TensorInfo {
  const { dy, input } = inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as tf.MaxPoolGradAttrs;
  const info = tf.backend_util.computePool2DInfo(input.shape as Shape4, filterSize, strides, 1, pad, dimRoundingMode);
  const dx = backend.makeOutput(input.shape, 'float32');
  const dxv = heapF32(backend, dx);
  const xv = heapF32(backend, input);
  const dyv = heapF32(backend, dy);
  dxv.fill(0);
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  // The CNN's pooling (2x2, stride 2, every window inside the input, channels in blocks of 4)
  // runs as SIMD, one row of windows per call; everything else takes the JS loop below.
  const simd = simdOps(backend);
  const tiled = fh === 2 && fw === 2 && sh === 2 && sw === 2 && top === 0 && left === 0 && 2 * oh <= h && 2 * ow <= w;
  // The SIMD loops are do-while: they need at least one window and one block of channels.
  if (simd !== undefined && tiled && c % 4 === 0 && ow > 0 && c > 0) {
    const rowBytes = w * c * 4;
    const [xAt, dyAt, dxAt] = [xv, dyv, dxv].map((v) => v.byteOffset) as [number, number, number];
    for (let b = 0; b < n; b++) {
      for (let r = 0; r < oh; r++) {
        const x0 = xAt + (b * h + 2 * r) * rowBytes;
        const dx0 = dxAt + (b * h + 2 * r) * rowBytes;
        simd.maxPoolGrad2x2Row(x0, x0 + rowBytes, dyAt + (b * oh + r) * ow * c * 4, dx0, dx0 + rowBytes, ow, c);
      }
    }
    return dx;
  }
  for (let b = 0; b < n; b++) {
    for (let r = 0; r < oh; r++) {
      const r0 = Math.max(0, r * sh - top);
      const r1 = Math.min(h, r * sh - top + fh);
      for (let q = 0; q < ow; q++) {
        const q0 = Math.max(0, q * sw - left);
        const q1 = Math.min(w, q * sw - left + fw);
        const g = ((b * oh + r) * ow + q) * c;
        const corner = ((b * h + r0) * w + q0) * c;
        const rowStep = w * c;
        for (let ch = 0; ch < c; ch++) {
          let best = -Infinity;
          let at = -1;
          for (let i = r0, rowAt = corner + ch; i < r1; i++, rowAt += rowStep) {
            for (let j = q0, idx = rowAt; j < q1; j++, idx += c) {
              const v = xv[idx] as number;
              if (v > best) {
                best = v;
                at = idx;
              }
            }
          }
          if (at >= 0) dxv[at] = (dxv[at] as number) + (dyv[g + ch] as number);
        }
      }
    }
  }
  return dx;
}
