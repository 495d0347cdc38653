// Elementwise arithmetic the tfjs path of a batch-norm network spends its time in, on buffers the
// caller owns (the wasm heap): a binary operation of two tensors of one shape or of a tensor and
// a per-channel vector (its last axis), and batch norm's normalisation. float32 throughout, one
// rounding per operation, in the order tfjs-backend-wasm's own kernels use.
#pragma once
#include <cstdint>

namespace ringtrain {

// kReluGrad and kSquareGrad are tfjs's gradients a * step(b) and a * (b * 2) (a = dy, b = the
// op's input) in one pass.
enum class BinaryOp : int { kMul = 0, kAdd = 1, kSub = 2, kDiv = 3, kReluGrad = 4, kSquareGrad = 5 };

// How b lines up with a: element for element, one value per column, or one value for all.
enum class Broadcast : int { kSame = 0, kChannel = 1, kScalar = 2 };

// out[r, j] = a[r, j] op b[r, j], a[r, j] op b[j] or a[r, j] op b[0] (by `layout`), for rows x
// cols elements; `swapped` computes b op a instead (b was the first operand of a Sub or a Div).
void binaryOp(BinaryOp op, const float* a, const float* b, float* out, int64_t rows, int64_t cols, Broadcast layout, bool swapped);

// out[r, j] = offset[j] + (x[r, j] - mean[j]) * scale[j] / sqrt(variance[j] + epsilon); a null
// offset is 0, a null scale 1 (tfjs's FusedBatchNorm).
void batchNormChannels(const float* x, const float* mean, const float* variance, const float* offset, const float* scale, float epsilon, float* out, int64_t rows, int64_t cols);

// Where batchNormGradChannels writes: dx like x, the four per-channel gradients `cols` long.
struct BatchNormGrads {
  float* dx;
  float* mean;
  float* variance;
  float* scale;
  float* offset;
};

// tfjs's FusedBatchNorm gradient (tfjs-core's FusedBatchNorm_grad.js, mean and variance taken as
// inputs) in one pass: the same float32 products per element, each per-channel sum added row by
// row as the project's Sum kernel adds it, so the same bits as those ops on the wasm backend.
void batchNormGradChannels(const float* dy, const float* x, const float* mean, const float* variance, const float* scale, float epsilon, int64_t rows, int64_t cols, const BatchNormGrads& out);

// The rest of x's gradient when mean and variance are tfjs's moments of x (tf.moments: Mean,
// Sub, Square, Mean), given their gradients dmean and dvariance (batch norm's): added to dx in
// the order tfjs's tape adds them, dx + (the variance's path), then + (the mean's path), with the
// same float32 operations and the per-channel sum added row by row, so tfjs's bits.
void momentsGradChannels(const float* x, const float* mean, const float* dmean, const float* dvariance, int64_t rows, int64_t cols, float* dx);

// tf.moments' variance of x given its mean, out[j] = sum over rows of (x - mean[j])^2 / rows: the
// Sub, Square and Mean tfjs runs, each float32 operation as theirs and the sum added row by row,
// in one pass that keeps neither the differences nor their squares.
void varianceChannels(const float* x, const float* mean, int64_t rows, int64_t cols, float* out);

// out[j] = x[0, j] + x[1, j] + ... row by row from 0, in float32: the project's Sum kernel over
// leading axes (src/core/wasm-simd.ts columnSum), the same additions in the same order.
void columnSums(const float* x, int64_t rows, int64_t cols, float* out);

}  // namespace ringtrain
