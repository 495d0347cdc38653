// im2col and its adjoint for NHWC convolutions, on buffers the caller owns (the wasm heap): the
// same layouts and the same order of additions as src/compute/im2col.ts and the col2im loop of
// src/compute/kernel-conv2d-backprop-input-wasm.ts, so either path gives the same bits.
#pragma once
#include <cstdint>

namespace ringtrain {

struct PatchGeometry {
  int64_t n, h, w, c;    // input
  int64_t oh, ow;        // output size
  int64_t kh, kw;        // filter size
  int64_t sh, sw;        // strides
  int64_t top, left;     // padding before the first row and column
};

// cols[(b*OH + r)*OW + q][(i*KW + j)*C + ch] = x[b, r*sh - top + i, q*sw - left + j, ch], or 0 outside.
void im2colNhwc(const PatchGeometry& g, const float* x, float* cols);

// The adjoint: each patch row of cols added back onto dx where its taps came from, patch by
// patch in order (dx is not cleared first).
void col2imNhwc(const PatchGeometry& g, const float* cols, float* dx);

}  // namespace ringtrain
