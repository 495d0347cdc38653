// See wire-convert.h. Half precision uses the CPU's conversion instructions (F16C, AVX-512)
// where it has them: the JS loops cost ~17 ns an element, which made an fp16 wire slower than
// fp32. The scalar functions are the JS encoder's arithmetic and serve NaN lanes and tails.
#include "wire-convert.h"

#include <immintrin.h>
#include <cstring>

namespace ringtrain {
namespace {

uint32_t bitsOf(float v) {
  uint32_t x;
  std::memcpy(&x, &v, 4);
  return x;
}

float floatOf(uint32_t x) {
  float v;
  std::memcpy(&v, &x, 4);
  return v;
}

uint16_t halfOf(float v) {
  const uint32_t x = bitsOf(v);
  const uint32_t sign = (x >> 16) & 0x8000;
  const int exp = static_cast<int>((x >> 23) & 0xff);
  uint32_t mant = x & 0x7fffff;
  if (exp == 0xff) return static_cast<uint16_t>(sign | 0x7c00 | (mant != 0 ? 0x200 : 0));
  const int e = exp - 127 + 15;
  if (e >= 0x1f) return static_cast<uint16_t>(sign | 0x7c00);
  if (e <= 0) {
    if (e < -10) return static_cast<uint16_t>(sign);
    mant |= 0x800000;
    const int shift = 14 - e;
    const uint32_t half = mant >> shift, rem = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
    return static_cast<uint16_t>(sign | ((rem > mid || (rem == mid && (half & 1) == 1)) ? half + 1 : half));
  }
  const uint32_t half = (static_cast<uint32_t>(e) << 10) | (mant >> 13), rem = mant & 0x1fff;
  return static_cast<uint16_t>(sign | ((rem > 0x1000 || (rem == 0x1000 && (half & 1) == 1)) ? half + 1 : half));
}

float floatOfHalf(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  if (exp == 0x1f) return mant != 0 ? floatOf(0x7fc00000) : floatOf(sign | 0x7f800000);
  if (exp != 0) return floatOf(sign | ((exp + 112) << 23) | (mant << 13));
  const float v = static_cast<float>(mant) * 5.9604644775390625e-8f;  // mant x 2^-24, exact
  return sign != 0 ? -v : v;
}

uint16_t bf16Of(float v) {
  const uint32_t x = bitsOf(v);
  if ((x & 0x7fffffff) > 0x7f800000) return static_cast<uint16_t>((x >> 16) | 0x40);
  return static_cast<uint16_t>((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

__attribute__((target("avx512f"))) void halfEncode512(const float* s, uint16_t* d, int64_t n, int64_t* done) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 x = _mm512_loadu_ps(s + i);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + i), _mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    if (_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q) != 0)
      for (int j = 0; j < 16; j++) d[i + j] = halfOf(s[i + j]);
  }
  *done = i;
}

__attribute__((target("avx512f"))) void halfDecode512(const uint16_t* s, float* d, int64_t n, bool add, int64_t* done) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 f = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i)));
    const __mmask16 nan = _mm512_cmp_ps_mask(f, f, _CMP_UNORD_Q);
    f = _mm512_mask_mov_ps(f, nan, _mm512_set1_ps(floatOf(0x7fc00000)));
    if (add) f = _mm512_add_ps(_mm512_loadu_ps(d + i), f);
    _mm512_storeu_ps(d + i, f);
  }
  *done = i;
}

__attribute__((target("avx2,f16c"))) void halfEncode256(const float* s, uint16_t* d, int64_t n, int64_t* done) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 x = _mm256_loadu_ps(s + i);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i), _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    if (_mm256_movemask_ps(_mm256_cmp_ps(x, x, _CMP_UNORD_Q)) != 0)
      for (int j = 0; j < 8; j++) d[i + j] = halfOf(s[i + j]);
  }
  *done = i;
}

__attribute__((target("avx2,f16c"))) void halfDecode256(const uint16_t* s, float* d, int64_t n, bool add, int64_t* done) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 f = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i)));
    f = _mm256_blendv_ps(f, _mm256_set1_ps(floatOf(0x7fc00000)), _mm256_cmp_ps(f, f, _CMP_UNORD_Q));
    if (add) f = _mm256_add_ps(_mm256_loadu_ps(d + i), f);
    _mm256_storeu_ps(d + i, f);
  }
  *done = i;
}

#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

CLONES void bf16Encode(const float* s, uint16_t* d, int64_t n) {
  for (int64_t i = 0; i < n; i++) d[i] = bf16Of(s[i]);
}

CLONES void bf16Decode(const uint16_t* s, float* d, int64_t n, bool add) {
  if (add)
    for (int64_t i = 0; i < n; i++) d[i] = d[i] + floatOf(static_cast<uint32_t>(s[i]) << 16);
  else
    for (int64_t i = 0; i < n; i++) d[i] = floatOf(static_cast<uint32_t>(s[i]) << 16);
}

}  // namespace

void wireEncode(int kind, const float* src, uint16_t* dst, int64_t n) {
  if (kind == 1) return bf16Encode(src, dst, n);
  int64_t i = 0;
  if (__builtin_cpu_supports("avx512f")) halfEncode512(src, dst, n, &i);
  else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c")) halfEncode256(src, dst, n, &i);
  for (; i < n; i++) dst[i] = halfOf(src[i]);
}

void wireDecode(int kind, const uint16_t* src, float* dst, int64_t n, bool add) {
  if (kind == 1) return bf16Decode(src, dst, n, add);
  int64_t i = 0;
  if (__builtin_cpu_supports("avx512f")) halfDecode512(src, dst, n, add, &i);
  else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c")) halfDecode256(src, dst, n, add, &i);
  for (; i < n; i++) dst[i] = add ? dst[i] + floatOfHalf(src[i]) : floatOfHalf(src[i]);
}

}  // namespace ringtrain
