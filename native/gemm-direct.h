// C (+)= A.B without packing either operand, for the training step's shapes (a batch of rows
// times a layer's weights): B row-major with row length ldb, A in either orientation (one of its
// strides 1). With AVX-512 the tiles read both operands in place; elsewhere (or for other strides)
// it is sgemm, the packed product.
#pragma once
#include <cstddef>

#include "gemm.h"

namespace ringtrain {

// What the product's last pass does to C before storing it: a layer's bias and ReLU, so the
// layer's output is written once instead of written, read and written again.
struct Epilogue {
  const float* bias = nullptr;  // one per column of C, or null
  bool relu = false;
};

void sgemmDirect(int m, int n, int k, Operand a, const float* b, std::ptrdiff_t ldb, float* c, std::ptrdiff_t ldc, bool accumulate,
                 Epilogue epilogue = {});

// Whether sgemmDirect runs its own tiles here (AVX-512) rather than sgemm.
bool sgemmDirectAvailable();

}  // namespace ringtrain
