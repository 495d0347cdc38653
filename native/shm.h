// Shared memory between ringtrain processes on one host: a file in /dev/shm (tmpfs), mapped by
// both ends of a ring link so payloads cross with one memcpy each way instead of a trip through
// the loopback TCP stack.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace ringtrain {

struct SharedMapping {
  void* data = nullptr;
  size_t bytes = 0;
  // Empty on success, else why it failed (errno text), for the caller's message.
  std::string error;
};

// create: a new file of `bytes` (O_EXCL, mode 0600), its space reserved up front with
// posix_fallocate so a full tmpfs fails here and not as SIGBUS on a later write.
// !create: the existing file, whole; `bytes` must match its size.
SharedMapping mapSharedFile(const char* path, size_t bytes, bool create);
void unmapShared(void* data, size_t bytes);
// 0 on success, else errno.
int unlinkSharedFile(const char* path);
// dst[i] = src[i] for n floats, with streaming (non-temporal) stores on x86-64: the lines go
// to memory without first being read into this core's cache, and a peer core that read them last
// time is not asked for them one by one. Measured on the test VM: a 400 KB gradient copied into
// the half a peer had just read took ~0.05-0.1 ms with memcpy, ~0.02 ms this way.
void copyStreaming(float* dst, const float* src, size_t n);
// dst[i] = (dst[i] + src[i]) * scale for n floats, each operation rounded to float (no fused
// multiply-add): a pair's mean straight from the peer's half of the shared file, in one pass,
// without first copying it next to dst.
void addScaled(float* dst, const float* src, size_t n, float scale);

// addScaled, returning the sum of squares of the first `squaresUpTo` results (float64, sixteen
// interleaved lanes added pairwise, neighbours first): a pair's part of the gradient norm, read
// in the pass that sums it instead of a pass of its own.
double addScaledSquares(float* dst, const float* src, size_t n, float scale, size_t squaresUpTo);

// addScaledSquares that also writes each result back to src: a pair's summed part lands in both
// ranks' buffers in the pass that sums it, so neither copies it out of the other's afterwards.
double addScaledSquaresBoth(float* dst, float* src, size_t n, float scale, size_t squaresUpTo);

// Sleeps while *word == expected (a futex on shared memory, so a peer process can wake it), at
// most timeoutMicros: 0 woken, 1 timed out, 2 the word had already changed, 3 interrupted/other.
int futexWait(int32_t* word, int32_t expected, int64_t timeoutMicros);

// Wakes up to `count` sleepers on `word`; how many woke, or -1.
int futexWake(int32_t* word, int32_t count);

}  // namespace ringtrain
