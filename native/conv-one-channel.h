// Convolutions of a single input channel (a network's first layer on grey images: the ResNet's
// stem), computed from the input directly: the patch matrix of one channel has rows of KH*KW
// floats, too short for the matrix product to run near its speed, and laying it out cost as much
// as the product. The same fused multiply-adds in the same order as that product on AVX-512
// (gemm.cc's narrow kernel), so both give the same bits; they run only there (oneChannelLanes).
#pragma once
#include <cstdint>

#include "patches.h"

namespace ringtrain {

// The most taps (KH*KW) these kernels take: their accumulators live in registers.
constexpr int64_t kOneChannelMaxTaps = 16;

// Output channels per register where these kernels run (where the product runs AVX-512: 16), else 0;
// they take output channels in whole registers only.
int64_t oneChannelLanes();

// out[b, r, q, o] = sum over taps t = (i, j) in order of x[b, r*sh - top + i, q*sw - left + j] * f[t*oc + o]
// (0 outside), one fused multiply-add chain from 0. g.c must be 1.
void convOneChannel(const PatchGeometry& g, int64_t oc, const float* x, const float* f, float* out);

// dw[t*oc + o] += sum over the output pixels p of x's tap t at p * dy[p*oc + o], in chains of
// kGemmBlockDepth pixels each starting from 0 and then added to dw (the product's blocks). g.c must be 1.
void convOneChannelFilterGrad(const PatchGeometry& g, int64_t oc, const float* x, const float* dy, float* dw);

}  // namespace ringtrain
