// This core's fp32 FMA peak, measured: independent FMA chains on registers only (no memory), as
// many as hide the FMA latency, so the loop runs at the FMA ports' throughput.
#pragma once

namespace ringtrain {

// GFLOP/s of single-precision FMA (2 FLOP each) over about `seconds` of wall time, with the widest
// vectors this CPU runs (AVX-512 where present, else AVX2); 0 without AVX2 + FMA.
double measurePeakGflops(double seconds);

// "avx512f" or "avx2-fma" (what measurePeakGflops used), or "none".
const char* peakIsa();

}  // namespace ringtrain
