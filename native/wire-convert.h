// Float32 <-> the ring's compressed wire types (src/allreduce/wire-dtype.ts), with the same
// results as its JS loops: round to nearest even, overflow to infinity, and a NaN encodes as
// the quiet NaN the JS encoder writes.
#pragma once
#include <cstdint>

namespace ringtrain {

// kind 0: IEEE half, 1: bfloat16.
void wireEncode(int kind, const float* src, uint16_t* dst, int64_t n);
// dst[i] (+)= the float32 value of src[i].
void wireDecode(int kind, const uint16_t* src, float* dst, int64_t n, bool add);

}  // namespace ringtrain
