// Single-precision matrix product C = A.B (or C += A.B) over general strides, so transposed
// operands cost nothing extra: they are read in their own layout while being packed.
#pragma once
#include <cstddef>

namespace ringtrain {

struct Operand {
  const float* data;
  std::ptrdiff_t rowStride;  // elements between (i, p) and (i + 1, p)
  std::ptrdiff_t colStride;  // elements between (i, p) and (i, p + 1)
};

// The depth of one block of the product: each block's sums start from 0 and are then added to C.
constexpr int kGemmBlockDepth = 256;

// C[i][j] (+)= sum over p < k of A(i, p) * B(p, j), for i < m, j < n; C is row-major with row
// length ldc.
void sgemm(int m, int n, int k, Operand a, Operand b, float* c, std::ptrdiff_t ldc, bool accumulate);

// Which microkernel runs on this CPU: "avx2-fma" or "scalar".
const char* sgemmKernelName();

}  // namespace ringtrain
