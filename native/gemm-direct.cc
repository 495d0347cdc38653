// See gemm-direct.h. The microkernel broadcasts A straight from its own layout and loads B's rows
// straight from memory, with AVX-512 masks for the last columns, so the only copies a training
// step makes are the ones the layers need (im2col), not the product's.
#include "gemm-direct.h"

#include <immintrin.h>

#include <algorithm>

namespace ringtrain {
namespace {

constexpr int MR = 8;     // rows of a C tile
constexpr int NR = 32;    // columns of a C tile: two zmm registers
constexpr int KC = 256;   // the most of the inner dimension per pass: a KC x NR panel of B (48 KB) stays in L1/L2
constexpr int MC = 64;    // rows per block: MC x KC of A (96 KB) stays in L2 while every panel passes

bool detectAvx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");
}

const bool kAvx512 = detectAvx512();

// One MR' x NR tile: C (+)= A(rows, p) B(p, cols) over kc. A(r, p) is a[r * rs + p * cs] with one
// of the strides 1 (kUnitRows: rs == 1, else cs == 1); B row p is b + p * ldb.
template <int Rows, bool kUnitRows>
__attribute__((target("avx512f"))) void tile(int kc, const float* a, std::ptrdiff_t stride, const float* b, std::ptrdiff_t ldb, float* c,
                                             std::ptrdiff_t ldc, bool accumulate, __mmask16 m0, __mmask16 m1, const Epilogue* last) {
  __m512 lo[Rows], hi[Rows];
  #pragma GCC unroll 16
  for (int r = 0; r < Rows; r++) lo[r] = hi[r] = _mm512_setzero_ps();
  for (int p = 0; p < kc; p++) {
    const __m512 b0 = _mm512_maskz_loadu_ps(m0, b);
    const __m512 b1 = _mm512_maskz_loadu_ps(m1, b + 16);
    #pragma GCC unroll 16
    for (int r = 0; r < Rows; r++) {
      const __m512 ar = _mm512_set1_ps(kUnitRows ? a[r] : a[r * stride]);
      lo[r] = _mm512_fmadd_ps(ar, b0, lo[r]);
      hi[r] = _mm512_fmadd_ps(ar, b1, hi[r]);
    }
    a += kUnitRows ? stride : 1;
    b += ldb;
  }
  #pragma GCC unroll 16
  for (int r = 0; r < Rows; r++) {
    float* row = c + r * ldc;
    if (accumulate) {
      lo[r] = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, row), lo[r]);
      hi[r] = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, row + 16), hi[r]);
    }
    if (last != nullptr && last->bias != nullptr) {
      lo[r] = _mm512_add_ps(lo[r], _mm512_maskz_loadu_ps(m0, last->bias));
      hi[r] = _mm512_add_ps(hi[r], _mm512_maskz_loadu_ps(m1, last->bias + 16));
    }
    if (last != nullptr && last->relu) {
      // max(0, x) returns its second operand when either is NaN: a NaN stays NaN, as in torch.
      lo[r] = _mm512_max_ps(_mm512_setzero_ps(), lo[r]);
      hi[r] = _mm512_max_ps(_mm512_setzero_ps(), hi[r]);
    }
    _mm512_mask_storeu_ps(row, m0, lo[r]);
    _mm512_mask_storeu_ps(row + 16, m1, hi[r]);
  }
}

using Tile = void (*)(int, const float*, std::ptrdiff_t, const float*, std::ptrdiff_t, float*, std::ptrdiff_t, bool, __mmask16, __mmask16, const Epilogue*);

template <bool kUnitRows>
Tile tileOf(int rows) {
  switch (rows) {
    case 1: return tile<1, kUnitRows>;
    case 2: return tile<2, kUnitRows>;
    case 3: return tile<3, kUnitRows>;
    case 4: return tile<4, kUnitRows>;
    case 5: return tile<5, kUnitRows>;
    case 6: return tile<6, kUnitRows>;
    case 7: return tile<7, kUnitRows>;
    default: return tile<8, kUnitRows>;
  }
}

__mmask16 maskOf(int cols) { return cols >= 16 ? static_cast<__mmask16>(0xFFFF) : cols <= 0 ? 0 : static_cast<__mmask16>((1u << cols) - 1); }

template <bool kUnitRows>
void blocks(int m, int n, int k, const Operand& a, const float* b, std::ptrdiff_t ldb, float* c, std::ptrdiff_t ldc, bool accumulate, const Epilogue& epilogue) {
  const std::ptrdiff_t stride = kUnitRows ? a.colStride : a.rowStride;
  // Equal passes (784 = 2 x 392, not 384 + 384 + 16): a short last pass would pay a whole pass's
  // loads and stores of C for a few multiply-adds.
  const int passes = (k + KC - 1) / KC;
  const int step = (k + passes - 1) / passes;
  for (int pc = 0; pc < k; pc += step) {
    const int kc = std::min(step, k - pc);
    const bool add = accumulate || pc > 0;
    const bool lastPass = pc + kc >= k;
    for (int ic = 0; ic < m; ic += MC) {
      const int mc = std::min(MC, m - ic);
      for (int jc = 0; jc < n; jc += NR) {
        const int cols = n - jc;
        const __mmask16 m0 = maskOf(cols), m1 = maskOf(cols - 16);
        const Epilogue here{epilogue.bias == nullptr ? nullptr : epilogue.bias + jc, epilogue.relu};
        const Epilogue* last = lastPass && (here.bias != nullptr || here.relu) ? &here : nullptr;
        for (int ir = 0; ir < mc; ir += MR) {
          const int rows = std::min(MR, mc - ir);
          const float* at = a.data + (ic + ir) * a.rowStride + pc * a.colStride;
          tileOf<kUnitRows>(rows)(kc, at, stride, b + pc * ldb + jc, ldb, c + (ic + ir) * ldc + jc, ldc, add, m0, m1, last);
        }
      }
    }
  }
}

// The epilogue as a pass of its own, after the packed product.
void applyEpilogue(int m, int n, float* c, std::ptrdiff_t ldc, const Epilogue& e) {
  if (e.bias == nullptr && !e.relu) return;
  for (int i = 0; i < m; i++) {
    float* row = c + i * ldc;
    for (int j = 0; j < n; j++) {
      const float v = e.bias != nullptr ? row[j] + e.bias[j] : row[j];
      row[j] = e.relu && v < 0.0f ? 0.0f : v;  // NaN stays NaN
    }
  }
}

}  // namespace

bool sgemmDirectAvailable() { return kAvx512; }

void sgemmDirect(int m, int n, int k, Operand a, const float* b, std::ptrdiff_t ldb, float* c, std::ptrdiff_t ldc, bool accumulate, Epilogue epilogue) {
  if (m <= 0 || n <= 0) return;
  if (!kAvx512 || (a.colStride != 1 && a.rowStride != 1) || k <= 0) {
    sgemm(m, n, k, a, {b, ldb, 1}, c, ldc, accumulate);
    applyEpilogue(m, n, c, ldc, epilogue);
    return;
  }
  if (a.rowStride == 1 && a.colStride != 1) {
    blocks<true>(m, n, k, a, b, ldb, c, ldc, accumulate, epilogue);
  } else {
    blocks<false>(m, n, k, a, b, ldb, c, ldc, accumulate, epilogue);
  }
}

}  // namespace ringtrain
