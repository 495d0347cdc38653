#include "diagnostics.h"

#include <cmath>

namespace ringtrain {

void histogram(const float* v, int64_t n, int bins, double* out) {
  double lo = INFINITY, hi = -INFINITY, sum = 0, sq = 0;
  int64_t count = 0;
  for (int64_t i = 0; i < n; i++) {
    const double x = v[i];
    if (!std::isfinite(x)) continue;
    if (x < lo) lo = x;
    if (x > hi) hi = x;
    count++;
    sum += x;
    sq += x * x;
  }
  double* counts = out + 6;
  for (int b = 0; b < bins; b++) counts[b] = 0;
  out[0] = lo;
  out[1] = hi;
  out[2] = static_cast<double>(count);
  out[3] = sum;
  out[4] = sq;
  out[5] = static_cast<double>(n - count);
  if (count == 0) return;
  const int k = lo == hi ? 1 : bins;
  const double start = lo == hi ? lo - 0.5 : lo;
  const double width = lo == hi ? 1 : (hi - lo) / k;
  for (int64_t i = 0; i < n; i++) {
    const double x = v[i];
    if (!std::isfinite(x)) continue;
    const double b = std::floor((x - start) / width);
    counts[b < k - 1 ? static_cast<int>(b) : k - 1] += 1;
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
