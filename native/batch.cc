// See batch.h.
#include "batch.h"

namespace ringtrain {

void gatherDecoded(const uint8_t* bytes, const float* table, int64_t channels, const int32_t* idx, int64_t rows, int64_t features, float* out) {
  for (int64_t p = 0; p < rows; p++) {
    const uint8_t* src = bytes + static_cast<int64_t>(idx[p]) * features;
    float* dst = out + p * features;
    if (channels == 1) {
      for (int64_t i = 0; i < features; i++) dst[i] = table[src[i]];
      continue;
    }
    for (int64_t i = 0, c = 0; i < features; i++) {
      dst[i] = table[(c << 8) | src[i]];
      if (++c == channels) c = 0;
    }
  }
}

}  // namespace ringtrain
