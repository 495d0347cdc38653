/**
 * MaxPoolGrad for the wasm backend. The stock kernel took ~34 ms for the CNN's first pooling
 * gradient at batch 64 (as long as the convolution next to it); this one is a single JS pass.
 *
 * Each output cell sends its gradient to the first maximum of its window in row-major order
 * (strictly greater wins, so ties go to the earliest tap, as in the cpu backend and PyTorch);
 * cells whose windows overlap add up. After a ReLU many windows are all zeros, so the tie rule
 * matters for matching the cpu backend exactly. A window with no finite maximum (all NaN or
 * all -Infinity) passes no gradient, as in the cpu backend. Every filter size, stride and
 * padding takes this path: max pooling gradients have no dilation.
 */
import * as tf from '@tensorflow/tfjs-core';
import { heapF32, replaceWasmKernel, type Shape4, type WasmKernelArgs } from './wasm-heap';

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
  const best = new Float32Array(c);
  const where = new Int32Array(c);
  for (let b = 0; b < n; b++) {
    for (let r = 0; r < oh; r++) {
      const r0 = Math.max(0, r * sh - top);
      const r1 = Math.min(h, r * sh - top + fh);
      for (let q = 0; q < ow; q++) {
        const q0 = Math.max(0, q * sw - left);
        const q1 = Math.min(w, q * sw - left + fw);
        best.fill(-Infinity);
        where.fill(-1);
        for (let i = r0; i < r1; i++) {
          for (let j = q0; j < q1; j++) {
            const base = ((b * h + i) * w + j) * c;
            for (let ch = 0; ch < c; ch++) {
              const v = xv[base + ch] as number;
              if (v > (best[ch] as number)) {
                best[ch] = v;
                where[ch] = base + ch;
              }
            }
          }
        }
        const g = ((b * oh + r) * ow + q) * c;
        for (let ch = 0; ch < c; ch++) {
          const at = where[ch] as number;
          if (at >= 0) dxv[at] = (dxv[at] as number) + (dyv[g + ch] as number);
        }
      }
    }
  }
  return dx;
}
