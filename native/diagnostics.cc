#include "diagnostics.h"

#include <cmath>
#include <cstdint>
#include <vector>

namespace ringtrain {

// No FP exceptions are read here, so the loops may vectorize as if none could trap (floor and
// the conversions need it); the results are the same IEEE operations.
#define FAST_CLONES __attribute__((target_clones("avx512f", "avx2", "default"), optimize("no-trapping-math")))

namespace {

constexpr int LANES = 16;
// Values whose bins are computed at once, then counted (the count is a store-to-load chain).
constexpr int64_t CHUNK = 256;

// Pass 1: min, max, count, sum and sum of squares of the finite values, element i into lane
// i % 16 (the tail from lane 0), lanes combined pairwise, neighbours first, ties to the left:
// the JS loop (src/train/diagnostics.ts) does the same, so both give the same bits. Branch-free,
// so the lanes vectorize.
FAST_CLONES void moments(const float* v, int64_t n, double* out) {
  double lo[LANES], hi[LANES], s[LANES] = {}, q[LANES] = {}, c[LANES] = {};
  for (int j = 0; j < LANES; j++) lo[j] = INFINITY, hi[j] = -INFINITY;
  // x - x is 0 exactly when x is finite; selects instead of branches, so the lanes vectorize.
  auto add = [&](int j, double x) {
    const bool f = x - x == 0.0;
    const double xs = f ? x : 0.0, xl = f ? x : INFINITY, xh = f ? x : -INFINITY;
    lo[j] = xl < lo[j] ? xl : lo[j];
    hi[j] = xh > hi[j] ? xh : hi[j];
    s[j] += xs;
    q[j] += xs * xs;
    c[j] += f ? 1.0 : 0.0;
  };
  int64_t i = 0;
  for (; i + LANES <= n; i += LANES) {
    for (int j = 0; j < LANES; j++) add(j, v[i + j]);
  }
  for (int j = 0; i < n; i++, j++) add(j, v[i]);
  for (int width = LANES; width > 1; width /= 2) {
    for (int j = 0; j < width / 2; j++) {
      const int a = 2 * j, b = 2 * j + 1;
      lo[j] = lo[b] < lo[a] ? lo[b] : lo[a];
      hi[j] = hi[b] > hi[a] ? hi[b] : hi[a];
      s[j] = s[a] + s[b];
      q[j] = q[a] + q[b];
      c[j] = c[a] + c[b];
    }
  }
  out[0] = lo[0], out[1] = hi[0], out[2] = c[0], out[3] = s[0], out[4] = q[0];
}

// Pass 2: each finite value's bin, floor((x - start) / width) capped at k - 1 (as the JS loop);
// a non-finite value goes to slot k, which is not returned.
FAST_CLONES void binIndices(const float* v, int64_t n, double start, double width, int k, int32_t* idx) {
  const double last = k - 1;
  for (int64_t i = 0; i < n; i++) {
    const double x = v[i];
    const double b = std::floor((x - start) / width);
    const double capped = b < last ? b : last;
    idx[i] = x - x == 0.0 ? static_cast<int32_t>(capped) : k;
  }
}

}  // namespace

void histogram(const float* v, int64_t n, int bins, double* out) {
  moments(v, n, out);
  out[5] = static_cast<double>(n) - out[2];
  double* counts = out + 6;
  for (int b = 0; b < bins; b++) counts[b] = 0;
  if (out[2] == 0) return;
  const double lo = out[0], hi = out[1];
  const int k = lo == hi ? 1 : bins;
  const double start = lo == hi ? lo - 0.5 : lo;
  const double width = lo == hi ? 1 : (hi - lo) / k;
  // Four interleaved tallies (plus the non-finite slot) so consecutive values do not wait on
  // one another's increment.
  std::vector<int64_t> tally(4 * static_cast<size_t>(k + 1), 0);
  int32_t idx[CHUNK];
  for (int64_t at = 0; at < n; at += CHUNK) {
    const int64_t m = n - at < CHUNK ? n - at : CHUNK;
    binIndices(v + at, m, start, width, k, idx);
    for (int64_t i = 0; i < m; i++) tally[static_cast<size_t>(idx[i]) * 4 + (i & 3)]++;
  }
  for (int b = 0; b < k; b++) {
    const size_t t = static_cast<size_t>(b) * 4;
    counts[b] = static_cast<double>(tally[t] + tally[t + 1] + tally[t + 2] + tally[t + 3]);
  }
}

double sumSquaredDiff(const float* a, const float* b, int64_t n) {
  double l[16] = {};
  int64_t i = 0;
  auto at = [&](int64_t k) { return b == nullptr ? static_cast<double>(a[k]) : static_cast<double>(a[k]) - static_cast<double>(b[k]); };
  for (; i + 16 <= n; i += 16) {
    for (int j = 0; j < 16; j++) l[j] += at(i + j) * at(i + j);
  }
  for (int j = 0; i < n; i++, j++) l[j] += at(i) * at(i);
  for (int width = 16; width > 1; width /= 2) {
    for (int j = 0; j < width / 2; j++) l[j] = l[2 * j] + l[2 * j + 1];
  }
  return l[0];
}

}  // namespace ringtrain
