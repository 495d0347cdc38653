// Optimizer updates over flat float32 buffers, bit-identical to the JS loops in
// src/train/optimizers.ts: the same double-precision operations in the same order, rounded to
// float32 where JS stores into a Float32Array. Built with -ffp-contract=off (no fused
// multiply-add), so replicas that run the native and the JS path still agree bit for bit.
#pragma once
#include <cstdint>

namespace ringtrain {

// torch.optim.SGD in float32 (hyperparameters rounded to float32 first); `buf` is null without momentum.
void sgdStep(float* p, const float* g, float* buf, int64_t n, double momentum, double wd, double lr, bool nesterov);

// torch.optim.Adam / AdamW: w = p*decay; d = g + l2*w; m, v moments; p = w - stepSize*m/(sqrt(v)/bc2Sqrt + eps).
void adamStep(float* p, const float* g, float* m, float* v, int64_t n, double b1, double b2, double stepSize, double bc2Sqrt, double eps, double decay, double l2);

// torch.optim.RMSprop (not centered); `buf` is null without momentum.
void rmspropStep(float* p, const float* g, float* sq, float* buf, int64_t n, double alpha, double eps, double momentum, double wd, double lr);

// Sum of squares in float64 over sixteen interleaved lanes (element i goes to lane i % 16), the
// lanes added pairwise, neighbours first: the order src/train/grad-norm.ts uses too.
double sumSquares(const float* g, int64_t n);

// g[i] = float32(g[i] * coef), coef in double (gradient clipping).
void scaleBy(float* g, int64_t n, double coef);

}  // namespace ringtrain
