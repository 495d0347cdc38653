// See patches.h. Plain loops over contiguous runs (a kernel row's taps are consecutive in x): the
// compiler vectorizes the copies and adds, and one call replaces a JS or wasm call per run.
#include "patches.h"

#include <algorithm>
#include <cstring>

namespace ringtrain {

namespace {

// The taps j in [lo, hi) of a kernel row that land inside a row of width w, for patch column q.
struct Run {
  int64_t col0, lo, hi;
};

inline Run runOf(const PatchGeometry& g, int64_t q) {
  const int64_t col0 = q * g.sw - g.left;
  return {col0, std::max<int64_t>(0, -col0), std::min<int64_t>(g.kw, g.w - col0)};
}

}  // namespace

// Plain loops, not memcpy/memset: a patch row is three runs of a few dozen floats, and a libc call
// per run cost as much as the copying (a [64,28,28,16] 3x3 patch matrix: 1.06 -> 0.5 ms).
inline void copyRun(float* __restrict o, const float* __restrict src, int64_t n) {
  for (int64_t e = 0; e < n; e++) o[e] = src[e];
}

inline void zeroRun(float* __restrict o, int64_t n) {
  for (int64_t e = 0; e < n; e++) o[e] = 0.0f;
}

__attribute__((target_clones("avx512f", "avx2", "default"))) void im2colNhwc(const PatchGeometry& g, const float* x, float* cols) {
  const int64_t rowLen = g.kw * g.c;
  float* o = cols;
  for (int64_t b = 0; b < g.n; b++) {
    for (int64_t r = 0; r < g.oh; r++) {
      for (int64_t q = 0; q < g.ow; q++) {
        const Run run = runOf(g, q);
        for (int64_t i = 0; i < g.kh; i++, o += rowLen) {
          const int64_t row = r * g.sh - g.top + i;
          if (row < 0 || row >= g.h || run.hi <= run.lo) {
            zeroRun(o, rowLen);
            continue;
          }
          zeroRun(o, run.lo * g.c);
          const float* src = x + ((b * g.h + row) * g.w + run.col0 + run.lo) * g.c;
          copyRun(o + run.lo * g.c, src, (run.hi - run.lo) * g.c);
          zeroRun(o + run.hi * g.c, (g.kw - run.hi) * g.c);
        }
      }
    }
  }
}

void col2imNhwc(const PatchGeometry& g, const float* cols, float* dx) {
  const int64_t k = g.kh * g.kw * g.c;
  const float* src = cols;
  for (int64_t b = 0; b < g.n; b++) {
    for (int64_t r = 0; r < g.oh; r++) {
      for (int64_t q = 0; q < g.ow; q++, src += k) {
        const Run run = runOf(g, q);
        if (run.hi <= run.lo) continue;
        for (int64_t i = 0; i < g.kh; i++) {
          const int64_t row = r * g.sh - g.top + i;
          if (row < 0 || row >= g.h) continue;
          float* dst = dx + ((b * g.h + row) * g.w + run.col0 + run.lo) * g.c;
          const float* from = src + (i * g.kw + run.lo) * g.c;
          const int64_t len = (run.hi - run.lo) * g.c;
          for (int64_t e = 0; e < len; e++) dst[e] = dst[e] + from[e];
        }
      }
    }
  }
}

}  // namespace ringtrain
