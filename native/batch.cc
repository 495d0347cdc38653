// See batch.h. Rows come from random places of a large dataset: the next row's cache lines are
// requested while the current one is decoded, so the loads overlap instead of waiting one by one.
#include "batch.h"

#include <immintrin.h>

namespace ringtrain {
namespace {

bool detectAvx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2");
}

const bool kAvx2 = detectAvx2();

void prefetchRow(const uint8_t* row, int64_t features) {
  for (int64_t i = 0; i < features; i += 64) __builtin_prefetch(row + i);
}

// One channel: eight table lookups per gather instruction.
__attribute__((target("avx2"))) void decodeRowAvx2(const uint8_t* src, const float* table, int64_t features, float* dst) {
  int64_t i = 0;
  for (; i + 8 <= features; i += 8) {
    const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(src + i));
    _mm256_storeu_ps(dst + i, _mm256_i32gather_ps(table, _mm256_cvtepu8_epi32(bytes), 4));
  }
  for (; i < features; i++) dst[i] = table[src[i]];
}

void decodeRow(const uint8_t* src, const float* table, int64_t channels, int64_t features, float* dst) {
  if (channels == 1) {
    if (kAvx2) {
      decodeRowAvx2(src, table, features, dst);
      return;
    }
    for (int64_t i = 0; i < features; i++) dst[i] = table[src[i]];
    return;
  }
  for (int64_t i = 0, c = 0; i < features; i++) {
    dst[i] = table[(c << 8) | src[i]];
    if (++c == channels) c = 0;
  }
}

}  // namespace

void gatherDecoded(const uint8_t* bytes, const float* table, int64_t channels, const int32_t* idx, int64_t rows, int64_t features, float* out) {
  if (rows > 0) prefetchRow(bytes + static_cast<int64_t>(idx[0]) * features, features);
  for (int64_t p = 0; p < rows; p++) {
    if (p + 1 < rows) prefetchRow(bytes + static_cast<int64_t>(idx[p + 1]) * features, features);
    decodeRow(bytes + static_cast<int64_t>(idx[p]) * features, table, channels, features, out + p * features);
  }
}

}  // namespace ringtrain
