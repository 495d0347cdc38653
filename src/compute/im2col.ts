/**
 * im2col for NHWC convolutions: the input patches of every output pixel as the rows of one
 * matrix, so the filter gradient becomes one matrix product. (Without the native product the
 * forward convolution stays XNNPACK's own, which beat im2col at the CNN's sizes.)
 */

import type * as tf from '@tensorflow/tfjs-core';
import { nativeGemm, type NativeGemm, type Patches } from '../native';

/** An NHWC convolution's patch geometry: the addon's own type, which the native im2col takes. */
export type PatchGeometry = Patches;

/** A convolution's patch geometry, with its output channels, patch count and taps per patch. */
export interface ConvGeometry extends PatchGeometry {
  oc: number;
  /** N * OH * OW: the rows of the patch matrix. */
  patches: number;
  /** KH * KW * C: the columns of the patch matrix. */
  taps: number;
}

/** The geometry the conv kernels share, from tfjs's NHWC conv info. */
export function convGeometry(info: tf.backend_util.Conv2DInfo): ConvGeometry {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow, outChannels: oc } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  return {
    n,
    h,
    w,
    c,
    oh,
    ow,
    oc,
    kh,
    kw,
    sh,
    sw,
    top: info.padInfo.top,
    left: info.padInfo.left,
    patches: n * oh * ow,
    taps: kh * kw * c,
  };
}

/**
 * Whether the convolution reads its one input channel directly (conv-one-channel.cc) instead of
 * laying out patch rows of KH*KW floats for the product: with AVX-512 and whole registers of
 * output channels, where it beat im2col and the product on the ResNet's stem. Same bits either way.
 */
export function oneChannel(gemm: NativeGemm, g: ConvGeometry): boolean {
  const { lanes, maxTaps } = gemm.oneChannel;
  return lanes > 0 && g.c === 1 && g.kh * g.kw <= maxTaps && g.oc % lanes === 0;
}

/** Runs shorter than this are copied element by element; longer ones with copyWithin (memmove). */
const MEMMOVE_MIN = 16;

/**
 * Floats of patch matrix laid out at a time: half a core's L2, so the product reads it from
 * cache. A whole batch's matrix is tens of megabytes, written and then read back from memory,
 * which made the convolutions memory-bound.
 */
const CHUNK_FLOATS = 1 << 18;

/** The batch in chunks of whole samples: [first sample, samples] pairs, and the patch rows of the largest. */
export function patchChunks(g: PatchGeometry): { chunks: [number, number][]; rows: number } {
  const per = Math.max(1, Math.floor(CHUNK_FLOATS / Math.max(1, g.oh * g.ow * g.kh * g.kw * g.c)));
  const chunks: [number, number][] = [];
  for (let b0 = 0; b0 < g.n; b0 += per) chunks.push([b0, Math.min(per, g.n - b0)]);
  return { chunks, rows: Math.min(g.n, per) * g.oh * g.ow };
}

/**
 * fillColumns in one native call where the addon is built (native/patches.cc: the same bytes,
 * without a JS call per run of taps), else fillColumns itself.
 */
export function patchColumns(heap: Float32Array, colsAt: number, xAt: number, g: PatchGeometry): void {
  const gemm = nativeGemm();
  if (gemm === undefined) fillColumns(heap, colsAt, xAt, g);
  else gemm.im2col(heap.buffer, colsAt, xAt, g);
}

/**
 * cols[(b*OH + r)*OW + q][(i*KW + j)*C + ch] = x[b, r*sh - top + i, q*sw - left + j, ch], or 0
 * outside; `heap` is the whole wasm heap, `colsAt` and `xAt` element offsets into it.
 */
export function fillColumns(heap: Float32Array, colsAt: number, xAt: number, g: PatchGeometry): void {
  const { n, h, w, c, oh, ow, kh, kw, sh, sw, top, left } = g;
  const rowLen = kw * c;
  let o = colsAt;
  for (let b = 0; b < n; b++) {
    for (let r = 0; r < oh; r++) {
      for (let q = 0; q < ow; q++) {
        const col0 = q * sw - left;
        // Taps j in [jLo, jHi) land inside the row; they are contiguous in x (one run).
        const jLo = Math.max(0, -col0);
        const jHi = Math.min(kw, w - col0);
        for (let i = 0; i < kh; i++) {
          const row = r * sh - top + i;
          if (row < 0 || row >= h || jHi <= jLo) {
            heap.fill(0, o, o + rowLen);
            o += rowLen;
            continue;
          }
          if (jLo > 0) heap.fill(0, o, o + jLo * c);
          const len = (jHi - jLo) * c;
          const src = xAt + ((b * h + row) * w + col0 + jLo) * c;
          const dst = o + jLo * c;
          if (len >= MEMMOVE_MIN) heap.copyWithin(dst, src, src + len);
          else for (let e = 0; e < len; e++) heap[dst + e] = heap[src + e] as number;
          if (jHi < kw) heap.fill(0, o + jHi * c, o + rowLen);
          o += rowLen;
        }
      }
    }
  }
}
