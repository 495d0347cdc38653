// Training batches gathered from byte datasets, decoded through the same per-channel table as
// src/data/rows.ts (a lookup, so both give the same floats).
#pragma once
#include <cstdint>

namespace ringtrain {

// A batch of byte rows decoded through a per-channel table: for row p (dataset row idx[p]) and
// value i, out[p*features + i] = table[(i % channels) * 256 + bytes[idx[p]*features + i]].
void gatherDecoded(const uint8_t* bytes, const float* table, int64_t channels, const int32_t* idx, int64_t rows, int64_t features, float* out);

}  // namespace ringtrain
