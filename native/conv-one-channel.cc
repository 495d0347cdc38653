#include "conv-one-channel.h"

#include <immintrin.h>

#include <cstring>

#include "gemm.h"

namespace ringtrain {

namespace {

// Output channels at once: the lanes of one AVX-512 register.
constexpr int64_t kLanes = 16;

// v[t] = the input under each tap of output pixel (r, q) of one image, 0 outside it.
__attribute__((always_inline)) inline void tapsAt(const PatchGeometry& g, const float* img, int64_t r, int64_t q, float* v) {
  const int64_t y0 = r * g.sh - g.top, x0 = q * g.sw - g.left;
  if (y0 >= 0 && x0 >= 0 && y0 + g.kh <= g.h && x0 + g.kw <= g.w) {
    for (int64_t i = 0, t = 0; i < g.kh; i++) {
      for (int64_t j = 0; j < g.kw; j++, t++) v[t] = img[(y0 + i) * g.w + x0 + j];
    }
    return;
  }
  for (int64_t i = 0, t = 0; i < g.kh; i++) {
    const int64_t y = y0 + i;
    for (int64_t j = 0; j < g.kw; j++, t++) {
      const int64_t x = x0 + j;
      v[t] = y >= 0 && y < g.h && x >= 0 && x < g.w ? img[y * g.w + x] : 0.0f;
    }
  }
}

// 16 output channels at a time in one register, the K taps' weights (forward) or sums (filter
// gradient) in K more: the narrow product kernel's fused multiply-adds, in its order.
template <int64_t K>
__attribute__((target("avx512f"))) void forward16(const PatchGeometry& g, int64_t oc, const float* x, const float* f, float* out) {
  float v[kOneChannelMaxTaps];
  for (int64_t o0 = 0; o0 < oc; o0 += kLanes) {
    __m512 w[K];
    for (int64_t t = 0; t < K; t++) w[t] = _mm512_loadu_ps(f + t * oc + o0);
    float* row = out + o0;
    for (int64_t b = 0; b < g.n; b++) {
      const float* img = x + b * g.h * g.w;
      for (int64_t r = 0; r < g.oh; r++) {
        for (int64_t q = 0; q < g.ow; q++, row += oc) {
          tapsAt(g, img, r, q, v);
          __m512 acc = _mm512_setzero_ps();
          for (int64_t t = 0; t < K; t++) acc = _mm512_fmadd_ps(_mm512_set1_ps(v[t]), w[t], acc);
          _mm512_storeu_ps(row, acc);
        }
      }
    }
  }
}

template <int64_t K>
__attribute__((target("avx512f"))) void filterGrad16(const PatchGeometry& g, int64_t oc, const float* x, const float* dy, float* dw) {
  const int64_t per = g.oh * g.ow, pixels = g.n * per;
  float v[kOneChannelMaxTaps];
  for (int64_t o0 = 0; o0 < oc; o0 += kLanes) {
    for (int64_t p0 = 0; p0 < pixels; p0 += kGemmBlockDepth) {
      const int64_t p1 = p0 + kGemmBlockDepth < pixels ? p0 + kGemmBlockDepth : pixels;
      __m512 acc[K];
      for (int64_t t = 0; t < K; t++) acc[t] = _mm512_setzero_ps();
      int64_t b = p0 / per, r = (p0 % per) / g.ow, q = p0 % g.ow;
      for (int64_t p = p0; p < p1; p++) {
        tapsAt(g, x + b * g.h * g.w, r, q, v);
        const __m512 d = _mm512_loadu_ps(dy + p * oc + o0);
        for (int64_t t = 0; t < K; t++) acc[t] = _mm512_fmadd_ps(_mm512_set1_ps(v[t]), d, acc[t]);
        if (++q == g.ow) {
          q = 0;
          if (++r == g.oh) r = 0, b++;
        }
      }
      for (int64_t t = 0; t < K; t++) {
        float* at = dw + t * oc + o0;
        _mm512_storeu_ps(at, _mm512_add_ps(_mm512_loadu_ps(at), acc[t]));
      }
    }
  }
}

// Runs body<K>() for the geometry's tap count K (1 to kOneChannelMaxTaps).
#define RINGTRAIN_BY_TAPS(body)                                                                 \
  switch (g.kh * g.kw) {                                                                        \
    case 1: return body<1>(g, oc, x, y, z);   case 2: return body<2>(g, oc, x, y, z);           \
    case 3: return body<3>(g, oc, x, y, z);   case 4: return body<4>(g, oc, x, y, z);           \
    case 5: return body<5>(g, oc, x, y, z);   case 6: return body<6>(g, oc, x, y, z);           \
    case 7: return body<7>(g, oc, x, y, z);   case 8: return body<8>(g, oc, x, y, z);           \
    case 9: return body<9>(g, oc, x, y, z);   case 10: return body<10>(g, oc, x, y, z);         \
    case 11: return body<11>(g, oc, x, y, z); case 12: return body<12>(g, oc, x, y, z);         \
    case 13: return body<13>(g, oc, x, y, z); case 14: return body<14>(g, oc, x, y, z);         \
    case 15: return body<15>(g, oc, x, y, z); default: return body<16>(g, oc, x, y, z);         \
  }

}  // namespace

// Where the product runs its AVX-512 kernels, whose bits these reproduce.
int64_t oneChannelLanes() { return std::strcmp(sgemmKernelName(), "avx512f") == 0 ? kLanes : 0; }

void convOneChannel(const PatchGeometry& g, int64_t oc, const float* x, const float* y, float* z) {
  RINGTRAIN_BY_TAPS(forward16)
}

void convOneChannelFilterGrad(const PatchGeometry& g, int64_t oc, const float* x, const float* y, float* z) {
  RINGTRAIN_BY_TAPS(filterGrad16)
}

}  // namespace ringtrain
