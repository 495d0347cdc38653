// A BLIS-style blocked matrix product: B is packed into panels of NR columns (kept in L2 across
// the rows), A into panels of MR rows, and a register-blocked microkernel multiplies one MR x NR
// tile of C over a KC-long slice of the inner dimension. With AVX2 + FMA the tile is 6 x 16 (12
// ymm accumulators), the shape BLIS uses on Zen and Haswell.
#include "gemm.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace ringtrain {
namespace {

// Tile shapes: AVX2 6 x 16 (12 ymm accumulators); AVX-512 8 x 32 (16 zmm accumulators), which
// divides the common batch sizes (64 rows) without an edge tile, and 16 x 16 for at most 16
// columns (kernelAvx512Narrow).
constexpr int KC = kGemmBlockDepth;
// Up to this many columns (two B panels) A is read in place rather than packed (unpacked).
constexpr int kUnpackedMaxColumns = 64;
constexpr int MC = 96;    // MC x KC of A (96 KB) stays in L2 while every B panel passes
constexpr int NC = 4096;  // KC x NC of B is one packing pass (4 MB at most)

using Microkernel = void (*)(int kc, const float* a, const float* b, float* c, std::ptrdiff_t ldc, bool accumulate);

__attribute__((target("avx2,fma"))) void kernelAvx2(int kc, const float* a, const float* b, float* c, std::ptrdiff_t ldc, bool accumulate) {
  constexpr int MR = 6, NR = 16;
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (int p = 0; p < kc; p++) {
    const __m256 b0 = _mm256_load_ps(b);
    const __m256 b1 = _mm256_load_ps(b + 8);
    __m256 ai = _mm256_broadcast_ss(a);
    c00 = _mm256_fmadd_ps(ai, b0, c00);
    c01 = _mm256_fmadd_ps(ai, b1, c01);
    ai = _mm256_broadcast_ss(a + 1);
    c10 = _mm256_fmadd_ps(ai, b0, c10);
    c11 = _mm256_fmadd_ps(ai, b1, c11);
    ai = _mm256_broadcast_ss(a + 2);
    c20 = _mm256_fmadd_ps(ai, b0, c20);
    c21 = _mm256_fmadd_ps(ai, b1, c21);
    ai = _mm256_broadcast_ss(a + 3);
    c30 = _mm256_fmadd_ps(ai, b0, c30);
    c31 = _mm256_fmadd_ps(ai, b1, c31);
    ai = _mm256_broadcast_ss(a + 4);
    c40 = _mm256_fmadd_ps(ai, b0, c40);
    c41 = _mm256_fmadd_ps(ai, b1, c41);
    ai = _mm256_broadcast_ss(a + 5);
    c50 = _mm256_fmadd_ps(ai, b0, c50);
    c51 = _mm256_fmadd_ps(ai, b1, c51);
    a += MR;
    b += NR;
  }
  const __m256 rows[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  #pragma GCC unroll 16
  for (int r = 0; r < MR; r++) {
    float* row = c + r * ldc;
    if (accumulate) {
      _mm256_storeu_ps(row, _mm256_add_ps(_mm256_loadu_ps(row), rows[r][0]));
      _mm256_storeu_ps(row + 8, _mm256_add_ps(_mm256_loadu_ps(row + 8), rows[r][1]));
    } else {
      _mm256_storeu_ps(row, rows[r][0]);
      _mm256_storeu_ps(row + 8, rows[r][1]);
    }
  }
}


// A(r, p) of an A read where it lies: rows contiguous (row stride `lda`) or, `Transposed`,
// columns contiguous (A^T row-major, as a patch matrix is for a filter gradient).
template <bool Transposed>
inline float aAt(const float* a, std::ptrdiff_t lda, int r, int p) {
  return Transposed ? a[p * lda + r] : a[r * lda + p];
}

// The same 8 x 32 tile reading A where it lies, for products with few B panels, where packing A
// costs more than it saves (unpacked, below).
template <bool Transposed>
__attribute__((target("avx512f"))) void kernelAvx512Rows(int kc, const float* a, std::ptrdiff_t lda, const float* b, float* c, std::ptrdiff_t ldc, bool accumulate) {
  constexpr int MR = 8, NR = 32;
  __m512 lo[MR], hi[MR];
  #pragma GCC unroll 16
  for (int r = 0; r < MR; r++) lo[r] = hi[r] = _mm512_setzero_ps();
  for (int p = 0; p < kc; p++) {
    const __m512 b0 = _mm512_load_ps(b + p * NR);
    const __m512 b1 = _mm512_load_ps(b + p * NR + 16);
    #pragma GCC unroll 16
    for (int r = 0; r < MR; r++) {
      const __m512 ar = _mm512_set1_ps(aAt<Transposed>(a, lda, r, p));
      lo[r] = _mm512_fmadd_ps(ar, b0, lo[r]);
      hi[r] = _mm512_fmadd_ps(ar, b1, hi[r]);
    }
  }
  #pragma GCC unroll 16
  for (int r = 0; r < MR; r++) {
    float* row = c + r * ldc;
    if (accumulate) {
      lo[r] = _mm512_add_ps(_mm512_loadu_ps(row), lo[r]);
      hi[r] = _mm512_add_ps(_mm512_loadu_ps(row + 16), hi[r]);
    }
    _mm512_storeu_ps(row, lo[r]);
    _mm512_storeu_ps(row + 16, hi[r]);
  }
}

// The packed path's 8 x 32 tile: a packed A panel holds A(r, p) at p * MR + r, which is A^T
// row-major with a row stride of MR.
__attribute__((target("avx512f"))) void kernelAvx512(int kc, const float* a, const float* b, float* c, std::ptrdiff_t ldc, bool accumulate) {
  kernelAvx512Rows<true>(kc, a, 8, b, c, ldc, accumulate);
}

// For products of at most 16 columns (a convolution with 16 output channels) the 8 x 32 tile
// computes half zeros, and packing A costs as much as the product, since one B panel is all
// there is to reuse it for. This tile is 16 x 16 (16 zmm accumulators) and reads A's rows where
// they are (aAt). Each element's sum is the same FMA chain over the inner dimension as in the
// wide tile, so both give the same bits.
template <bool Transposed>
__attribute__((target("avx512f"))) void kernelAvx512Narrow(int kc, const float* a, std::ptrdiff_t lda, const float* b, float* c, std::ptrdiff_t ldc, bool accumulate) {
  constexpr int MR = 16;
  __m512 acc[MR];
  #pragma GCC unroll 16
  for (int r = 0; r < MR; r++) acc[r] = _mm512_setzero_ps();
  for (int p = 0; p < kc; p++) {
    const __m512 bp = _mm512_load_ps(b + p * 16);
    #pragma GCC unroll 16
    for (int r = 0; r < MR; r++) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(aAt<Transposed>(a, lda, r, p)), bp, acc[r]);
  }
  #pragma GCC unroll 16
  for (int r = 0; r < MR; r++) {
    float* row = c + r * ldc;
    if (accumulate) acc[r] = _mm512_add_ps(_mm512_loadu_ps(row), acc[r]);
    _mm512_storeu_ps(row, acc[r]);
  }
}

template <int MR, int NR>
void kernelScalar(int kc, const float* a, const float* b, float* c, std::ptrdiff_t ldc, bool accumulate) {
  float acc[MR][NR] = {};
  for (int p = 0; p < kc; p++) {
    #pragma GCC unroll 16
    for (int r = 0; r < MR; r++) {
      const float ar = a[p * MR + r];
      for (int j = 0; j < NR; j++) acc[r][j] += ar * b[p * NR + j];
    }
  }
  #pragma GCC unroll 16
  for (int r = 0; r < MR; r++) {
    for (int j = 0; j < NR; j++) c[r * ldc + j] = accumulate ? c[r * ldc + j] + acc[r][j] : acc[r][j];
  }
}

bool hasAvx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

bool hasAvx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");
}

const bool kAvx2 = hasAvx2();
const bool kAvx512 = kAvx2 && hasAvx512();

// Ap: ceil(mc / MR) panels, each kc x MR (row r of the panel at p * MR + r); rows past mc are 0.
template <int MR>
void packA(int mc, int kc, const Operand& a, int i0, int p0, float* ap) {
  for (int i = 0; i < mc; i += MR) {
    const int rows = std::min(MR, mc - i);
    const float* src = a.data + (i0 + i) * a.rowStride + p0 * a.colStride;
    if (a.colStride == 1) {
      for (int r = 0; r < rows; r++) {
        const float* s = src + r * a.rowStride;
        for (int p = 0; p < kc; p++) ap[p * MR + r] = s[p];
      }
    } else {
      for (int p = 0; p < kc; p++) {
        const float* s = src + p * a.colStride;
        for (int r = 0; r < rows; r++) ap[p * MR + r] = s[r * a.rowStride];
      }
    }
    for (int r = rows; r < MR; r++) {
      for (int p = 0; p < kc; p++) ap[p * MR + r] = 0.0f;
    }
    ap += kc * MR;
  }
}

// Bp: ceil(nc / NR) panels, each kc x NR (column j of the panel at p * NR + j); columns past nc are 0.
template <int NR>
void packB(int nc, int kc, const Operand& b, int p0, int j0, float* bp) {
  for (int j = 0; j < nc; j += NR) {
    const int cols = std::min(NR, nc - j);
    const float* src = b.data + p0 * b.rowStride + (j0 + j) * b.colStride;
    if (b.colStride == 1) {
      for (int p = 0; p < kc; p++) {
        const float* s = src + p * b.rowStride;
        float* d = bp + p * NR;
        std::memcpy(d, s, cols * sizeof(float));
        for (int q = cols; q < NR; q++) d[q] = 0.0f;
      }
    } else {
      for (int q = 0; q < cols; q++) {
        const float* s = src + q * b.colStride;
        for (int p = 0; p < kc; p++) bp[p * NR + q] = s[p * b.rowStride];
      }
      for (int q = cols; q < NR; q++) {
        for (int p = 0; p < kc; p++) bp[p * NR + q] = 0.0f;
      }
    }
    bp += kc * NR;
  }
}

float* aligned(std::vector<float>& v, std::size_t n) {
  if (v.size() < n + 16) v.resize(n + 16);
  const auto at = reinterpret_cast<std::uintptr_t>(v.data());
  return v.data() + ((64 - (at & 63)) & 63) / sizeof(float);
}

template <int MR, int NR>
void blocked(Microkernel kernel, int m, int n, int k, const Operand& a, const Operand& b, float* c, std::ptrdiff_t ldc, bool accumulate) {
  // Packing buffers live as long as the thread: one allocation for the whole run.
  static thread_local std::vector<float> aBuffer;
  static thread_local std::vector<float> bBuffer;
  const int ncMax = std::min(n, NC);
  float* ap = aligned(aBuffer, static_cast<std::size_t>(MC + MR) * KC);
  float* bp = aligned(bBuffer, static_cast<std::size_t>((ncMax + NR - 1) / NR) * NR * KC);
  alignas(64) float edge[MR * NR];
  for (int jc = 0; jc < n; jc += NC) {
    const int nc = std::min(NC, n - jc);
    for (int pc = 0; pc < k; pc += KC) {
      const int kc = std::min(KC, k - pc);
      const bool add = accumulate || pc > 0;
      packB<NR>(nc, kc, b, pc, jc, bp);
      for (int ic = 0; ic < m; ic += MC) {
        const int mc = std::min(MC, m - ic);
        packA<MR>(mc, kc, a, ic, pc, ap);
        for (int jr = 0; jr < nc; jr += NR) {
          const int nr = std::min(NR, nc - jr);
          const float* bPanel = bp + (jr / NR) * kc * NR;
          for (int ir = 0; ir < mc; ir += MR) {
            const int mr = std::min(MR, mc - ir);
            const float* aPanel = ap + (ir / MR) * kc * MR;
            float* cTile = c + (ic + ir) * ldc + jc + jr;
            if (mr == MR && nr == NR) {
              kernel(kc, aPanel, bPanel, cTile, ldc, add);
              continue;
            }
            // A partial tile at the edge of C: computed whole into a scratch tile, then the
            // part inside C is copied (or added) out.
            kernel(kc, aPanel, bPanel, edge, NR, false);
            for (int r = 0; r < mr; r++) {
              for (int q = 0; q < nr; q++) cTile[r * ldc + q] = add ? cTile[r * ldc + q] + edge[r * NR + q] : edge[r * NR + q];
            }
          }
        }
      }
    }
  }
}

// C = A B with A read where it lies (rows or, `Transposed`, columns contiguous), B packed per KC
// slice: for products with one or two B panels (few output columns), where packing A is not
// repaid. The last rows (fewer than MR) go through a zero-padded copy and a scratch tile, as do
// partial B panels.
template <int MR, int NR, bool Transposed, typename Kernel>
void unpacked(Kernel kernel, int m, int n, int k, const Operand& a, const Operand& b, float* c, std::ptrdiff_t ldc, bool accumulate) {
  static thread_local std::vector<float> bBuffer;
  static thread_local std::vector<float> aTail;
  const int panels = (n + NR - 1) / NR;
  const std::ptrdiff_t lda = Transposed ? a.colStride : a.rowStride;
  float* bp = aligned(bBuffer, static_cast<std::size_t>(KC) * NR * panels);
  float* at = aligned(aTail, static_cast<std::size_t>(KC) * MR);
  alignas(64) float edge[MR * NR];
  for (int pc = 0; pc < k; pc += KC) {
    const int kc = std::min(KC, k - pc);
    const bool add = accumulate || pc > 0;
    packB<NR>(n, kc, b, pc, 0, bp);
    for (int i = 0; i < m; i += MR) {
      const int mr = std::min(MR, m - i);
      const float* block = a.data + i * a.rowStride + pc * a.colStride;
      std::ptrdiff_t ld = lda;
      if (mr < MR) {
        // The tail rows, zero-padded to MR, laid out as the kernel reads them.
        std::memset(at, 0, sizeof(float) * kc * MR);
        for (int r = 0; r < mr; r++) {
          for (int p = 0; p < kc; p++) at[Transposed ? p * MR + r : r * kc + p] = aAt<Transposed>(block, lda, r, p);
        }
        block = at;
        ld = Transposed ? MR : kc;
      }
      for (int jr = 0; jr < n; jr += NR) {
        const int nr = std::min(NR, n - jr);
        const float* bPanel = bp + (jr / NR) * kc * NR;
        float* cTile = c + i * ldc + jr;
        if (mr == MR && nr == NR) {
          kernel(kc, block, ld, bPanel, cTile, ldc, add);
          continue;
        }
        kernel(kc, block, ld, bPanel, edge, NR, false);
        for (int r = 0; r < mr; r++) {
          for (int q = 0; q < nr; q++) cTile[r * ldc + q] = add ? cTile[r * ldc + q] + edge[r * NR + q] : edge[r * NR + q];
        }
      }
    }
  }
}

// Products the unpacked path takes: AVX-512, at most kUnpackedMaxColumns columns, A's rows or
// columns contiguous. Returns false for the rest.
bool unpackedProduct(int m, int n, int k, const Operand& a, const Operand& b, float* c, std::ptrdiff_t ldc, bool accumulate) {
  if (!kAvx512 || n > kUnpackedMaxColumns) return false;
  if (a.colStride == 1) {
    if (n <= 16) unpacked<16, 16, false>(kernelAvx512Narrow<false>, m, n, k, a, b, c, ldc, accumulate);
    else unpacked<8, 32, false>(kernelAvx512Rows<false>, m, n, k, a, b, c, ldc, accumulate);
    return true;
  }
  if (a.rowStride == 1) {
    if (n <= 16) unpacked<16, 16, true>(kernelAvx512Narrow<true>, m, n, k, a, b, c, ldc, accumulate);
    else unpacked<8, 32, true>(kernelAvx512Rows<true>, m, n, k, a, b, c, ldc, accumulate);
    return true;
  }
  return false;
}

}  // namespace

void sgemm(int m, int n, int k, Operand a, Operand b, float* c, std::ptrdiff_t ldc, bool accumulate) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    if (!accumulate) {
      for (int i = 0; i < m; i++) std::memset(c + i * ldc, 0, n * sizeof(float));
    }
    return;
  }
  if (unpackedProduct(m, n, k, a, b, c, ldc, accumulate)) {
    return;
  } else if (kAvx512) {
    blocked<8, 32>(kernelAvx512, m, n, k, a, b, c, ldc, accumulate);
  } else if (kAvx2) {
    blocked<6, 16>(kernelAvx2, m, n, k, a, b, c, ldc, accumulate);
  } else {
    blocked<6, 16>(kernelScalar<6, 16>, m, n, k, a, b, c, ldc, accumulate);
  }
}

const char* sgemmKernelName() { return kAvx512 ? "avx512f" : kAvx2 ? "avx2-fma" : "scalar"; }

}  // namespace ringtrain
