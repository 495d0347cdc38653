// See optim.h. Each loop mirrors its JS twin expression for expression; target_clones builds an
// AVX2 copy (4 doubles per instruction) next to the baseline one and picks at load time.
// -fno-math-errno lets sqrt vectorize; it changes no result.
#include "optim.h"

#include <cmath>

namespace ringtrain {

#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

// SGD in float32, one rounding per operation as torch's float32 kernels round (and as the JS loop
// rounds with Math.fround): no conversions, so sixteen lanes per AVX-512 operation.
CLONES void sgdStep(float* p, const float* g, float* buf, int64_t n, double momentum, double wd, double lr, bool nesterov) {
  const float m = static_cast<float>(momentum), w = static_cast<float>(wd), l = static_cast<float>(lr);
  if (buf == nullptr) {
    for (int64_t i = 0; i < n; i++) p[i] = p[i] - l * (g[i] + w * p[i]);
    return;
  }
  if (!nesterov) {
    for (int64_t i = 0; i < n; i++) {
      const float b = m * buf[i] + (g[i] + w * p[i]);
      buf[i] = b;
      p[i] = p[i] - l * b;
    }
    return;
  }
  for (int64_t i = 0; i < n; i++) {
    const float d = g[i] + w * p[i];
    const float b = m * buf[i] + d;
    buf[i] = b;
    p[i] = p[i] - l * (d + m * b);
  }
}

CLONES void adamStep(float* p, const float* g, float* m, float* v, int64_t n, double b1, double b2, double stepSize, double bc2Sqrt, double eps, double decay, double l2) {
  const double c1 = 1 - b1;
  const double c2 = 1 - b2;
  for (int64_t i = 0; i < n; i++) {
    const double w = static_cast<double>(p[i]) * decay;
    const double d = static_cast<double>(g[i]) + l2 * w;
    const float mi = static_cast<float>(b1 * static_cast<double>(m[i]) + c1 * d);
    const float vi = static_cast<float>(b2 * static_cast<double>(v[i]) + c2 * d * d);
    m[i] = mi;
    v[i] = vi;
    p[i] = static_cast<float>(w - (stepSize * static_cast<double>(mi)) / (std::sqrt(static_cast<double>(vi)) / bc2Sqrt + eps));
  }
}

CLONES void rmspropStep(float* p, const float* g, float* sq, float* buf, int64_t n, double alpha, double eps, double momentum, double wd, double lr) {
  const double c = 1 - alpha;
  // Two loops rather than a branch inside one, so each vectorizes.
  if (buf != nullptr) {
    for (int64_t i = 0; i < n; i++) {
      const double d = static_cast<double>(g[i]) + wd * static_cast<double>(p[i]);
      const float s = static_cast<float>(alpha * static_cast<double>(sq[i]) + c * d * d);
      sq[i] = s;
      const double avg = std::sqrt(static_cast<double>(s)) + eps;
      const float b = static_cast<float>(momentum * static_cast<double>(buf[i]) + d / avg);
      buf[i] = b;
      p[i] = static_cast<float>(static_cast<double>(p[i]) - lr * static_cast<double>(b));
    }
    return;
  }
  for (int64_t i = 0; i < n; i++) {
    const double d = static_cast<double>(g[i]) + wd * static_cast<double>(p[i]);
    const float s = static_cast<float>(alpha * static_cast<double>(sq[i]) + c * d * d);
    sq[i] = s;
    const double avg = std::sqrt(static_cast<double>(s)) + eps;
    p[i] = static_cast<float>(static_cast<double>(p[i]) - (lr * d) / avg);
  }
}

CLONES double sumSquares(const float* g, int64_t n) {
  double l[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    for (int j = 0; j < 16; j++) l[j] += static_cast<double>(g[i + j]) * static_cast<double>(g[i + j]);
  }
  for (int j = 0; i < n; i++, j++) l[j] += static_cast<double>(g[i]) * static_cast<double>(g[i]);
  // Pairwise, neighbours first: (l0 + l1) + (l2 + l3), then those pairs, and so on.
  for (int width = 16; width > 1; width /= 2) {
    for (int j = 0; j < width / 2; j++) l[j] = l[2 * j] + l[2 * j + 1];
  }
  return l[0];
}

CLONES void scaleBy(float* g, int64_t n, double coef) {
  for (int64_t i = 0; i < n; i++) g[i] = static_cast<float>(static_cast<double>(g[i]) * coef);
}

}  // namespace ringtrain
