// The per-epoch diagnostics' passes over the weights and gradients (src/train/diagnostics.ts),
// in the same double-precision operations and order as its JS loops, so both paths agree.
#pragma once
#include <cstdint>

namespace ringtrain {

// out[0..5] = min, max, count, sum, sum of squares, non-finite count of the finite values of
// `v`; out[6..6+bins) = the counts of `bins` equal-width bins (one bin of width 1 when min = max,
// none when no value is finite). `out` holds 6 + bins doubles.
void histogram(const float* v, int64_t n, int bins, double* out);

// Sum of (a[i] - b[i])^2 in float64 over sixteen interleaved lanes, added pairwise, neighbours
// first (sumSquares' order); b null sums a[i]^2.
double sumSquaredDiff(const float* a, const float* b, int64_t n);

}  // namespace ringtrain
