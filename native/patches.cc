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

void im2colNhwc(const PatchGeometry& g, const float* x, float* cols) {
  const int64_t rowLen = g.kw * g.c;
  float* o = cols;
  for (int64_t b = 0; b < g.n; b++) {
    for (int64_t r = 0; r < g.oh; r++) {
      for (int64_t q = 0; q < g.ow; q++) {
        const Run run = runOf(g, q);
        for (int64_t i = 0; i < g.kh; i++, o += rowLen) {
          const int64_t row = r * g.sh - g.top + i;
          if (row < 0 || row >= g.h || run.hi <= run.lo) {
            std::memset(o, 0, rowLen * sizeof(float));
            continue;
          }
          std::memset(o, 0, run.lo * g.c * sizeof(float));
          const float* src = x + ((b * g.h + row) * g.w + run.col0 + run.lo) * g.c;
          std::memcpy(o + run.lo * g.c, src, (run.hi - run.lo) * g.c * sizeof(float));
          std::memset(o + run.hi * g.c, 0, (g.kw - run.hi) * g.c * sizeof(float));
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
