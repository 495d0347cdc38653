// See peak.h. Twelve accumulators: with an FMA latency of 4 cycles and two FMA ports, eight
// independent chains are the least that keep both ports busy; twelve leave a margin.
#include "peak.h"

#include "fused-step.h"

#include <immintrin.h>

#include <chrono>
#include <cstring>

namespace ringtrain {
namespace {

constexpr long kInner = 1 << 14;

bool hasAvx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");
}

bool hasAvx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

double since(std::chrono::steady_clock::time_point start) { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); }

// The same loop for both widths; the intrinsics differ, so it is spelled once as a macro.
#define PEAK_LOOP(V, SET1, FMA, ADD, LANES)                                   \
  V acc[12];                                                                  \
  const V mul = SET1(0.9999999f), add = SET1(1e-7f);                          \
  for (int i = 0; i < 12; i++) acc[i] = SET1(1.0f + i);                       \
  long iterations = 0;                                                        \
  const auto start = std::chrono::steady_clock::now();                        \
  double elapsed = 0;                                                         \
  do {                                                                        \
    for (long n = 0; n < kInner; n++) {                                       \
      for (int i = 0; i < 12; i++) acc[i] = FMA(acc[i], mul, add);            \
    }                                                                         \
    iterations += kInner;                                                     \
    elapsed = since(start);                                                   \
  } while (elapsed < seconds);                                                \
  V total = acc[0];                                                           \
  for (int i = 1; i < 12; i++) total = ADD(total, acc[i]);                    \
  alignas(64) float lanes[LANES];                                             \
  std::memcpy(lanes, &total, sizeof(lanes));                                  \
  *sink = lanes[0];                                                           \
  return static_cast<double>(iterations) * 12 * (LANES) * 2 / elapsed / 1e9;

__attribute__((target("avx512f"))) double peak512(double seconds, float* sink) { PEAK_LOOP(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, 16) }

__attribute__((target("avx2,fma"))) double peak256(double seconds, float* sink) { PEAK_LOOP(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, 8) }

}  // namespace

double measurePeakGflops(double seconds) {
  float sink = 0;
  double gflops = 0;
  if (hasAvx512()) {
    gflops = peak512(seconds, &sink);
  } else if (hasAvx2()) {
    gflops = peak256(seconds, &sink);
  }
  // The accumulators' result must look used, or the loop could be dropped.
  volatile float keep = sink;
  (void)keep;
  return gflops;
}

bool fusedStepAvailable() { return hasAvx2(); }

const char* peakIsa() { return hasAvx512() ? "avx512f" : hasAvx2() ? "avx2-fma" : "none"; }

}  // namespace ringtrain
