#include "shm.h"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <ctime>
#include <linux/futex.h>
#include <sys/syscall.h>
#if defined(__x86_64__)
#include <emmintrin.h>
#endif

namespace ringtrain {

namespace {
SharedMapping failed(const char* what, int err) {
  SharedMapping m;
  m.error = std::string(what) + ": " + std::strerror(err);
  return m;
}
}  // namespace

SharedMapping mapSharedFile(const char* path, size_t bytes, bool create) {
  const int fd = create ? open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600) : open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return failed("open", errno);
  if (create) {
    // posix_fallocate returns the error instead of setting errno.
    const int err = posix_fallocate(fd, 0, static_cast<off_t>(bytes));
    if (err != 0) {
      close(fd);
      unlink(path);
      return failed("reserving the space", err);
    }
  } else {
    struct stat st;
    if (fstat(fd, &st) != 0) {
      const int err = errno;
      close(fd);
      return failed("stat", err);
    }
    if (static_cast<size_t>(st.st_size) != bytes) {
      close(fd);
      SharedMapping m;
      m.error = "size " + std::to_string(st.st_size) + " differs from the announced " + std::to_string(bytes);
      return m;
    }
  }
  void* data = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  const int err = errno;
  // The mapping keeps the file alive; the descriptor is not needed any more.
  close(fd);
  if (data == MAP_FAILED) {
    if (create) unlink(path);
    return failed("mmap", err);
  }
  SharedMapping m;
  m.data = data;
  m.bytes = bytes;
  return m;
}

void unmapShared(void* data, size_t bytes) { munmap(data, bytes); }

int unlinkSharedFile(const char* path) { return unlink(path) == 0 ? 0 : errno; }

void copyStreaming(float* dst, const float* src, size_t n) {
#if defined(__x86_64__)
  size_t i = 0;
  // Streaming stores need 16-byte aligned destinations: the head goes one float at a time.
  while (i < n && (reinterpret_cast<uintptr_t>(dst + i) & 15) != 0) {
    dst[i] = src[i];
    i++;
  }
  for (; i + 4 <= n; i += 4) _mm_stream_ps(dst + i, _mm_loadu_ps(src + i));
  for (; i < n; i++) dst[i] = src[i];
  // Streaming stores are weakly ordered: fence them before the caller publishes its counter.
  _mm_sfence();
#else
  std::memcpy(dst, src, n * sizeof(float));
#endif
}

void addScaled(float* dst, const float* src, size_t n, float scale) {
  size_t i = 0;
#if defined(__x86_64__)
  const __m128 k = _mm_set1_ps(scale);
  for (; i + 8 <= n; i += 8) {
    const __m128 a = _mm_add_ps(_mm_loadu_ps(dst + i), _mm_loadu_ps(src + i));
    const __m128 b = _mm_add_ps(_mm_loadu_ps(dst + i + 4), _mm_loadu_ps(src + i + 4));
    _mm_storeu_ps(dst + i, _mm_mul_ps(a, k));
    _mm_storeu_ps(dst + i + 4, _mm_mul_ps(b, k));
  }
#endif
  // The same two roundings as the vector lanes: the sum to float, then the product to float.
  for (; i < n; i++) {
    const float sum = dst[i] + src[i];
    dst[i] = sum * scale;
  }
}

namespace {

// dst[i] = (dst[i] + src[i]) * scale (and src[i] too with `mirror`), returning the sum of squares
// of the first `squaresUpTo` results in 16 float64 lanes added pairwise, neighbours first (as
// sumSquares in optim.cc). Inlined into each target clone below, so each vectorizes per target.
template <bool Mirror>
__attribute__((always_inline)) inline double addSquaresLoop(float* dst, float* src, size_t n, float scale, size_t squaresUpTo) {
  double l[16] = {};
  const size_t m = squaresUpTo < n ? squaresUpTo : n;
  auto one = [&](size_t k) {
    const float d = (dst[k] + src[k]) * scale;
    dst[k] = d;
    if (Mirror) src[k] = d;
    return static_cast<double>(d) * static_cast<double>(d);
  };
  size_t i = 0;
  for (; i + 16 <= m; i += 16) {
    for (int j = 0; j < 16; j++) l[j] += one(i + j);
  }
  for (int j = 0; i < m; i++, j++) l[j] += one(i);
  for (; i < n; i++) one(i);
  for (int width = 16; width > 1; width /= 2) {
    for (int j = 0; j < width / 2; j++) l[j] = l[2 * j] + l[2 * j + 1];
  }
  return l[0];
}

}  // namespace

// Vectorized per target (as optim.cc): 16 independent float64 lanes need no reassociation.
__attribute__((target_clones("avx512f", "avx2", "default")))
double addScaledSquares(float* dst, const float* src, size_t n, float scale, size_t squaresUpTo) {
  // Not written through without Mirror: the cast only shares the loop.
  return addSquaresLoop<false>(dst, const_cast<float*>(src), n, scale, squaresUpTo);
}

__attribute__((target_clones("avx512f", "avx2", "default")))
double addScaledSquaresBoth(float* dst, float* src, size_t n, float scale, size_t squaresUpTo) {
  return addSquaresLoop<true>(dst, src, n, scale, squaresUpTo);
}

int futexWait(int32_t* word, int32_t expected, int64_t timeoutMicros) {
  struct timespec ts;
  ts.tv_sec = static_cast<time_t>(timeoutMicros / 1000000);
  ts.tv_nsec = static_cast<long>((timeoutMicros % 1000000) * 1000);
  // Not FUTEX_PRIVATE_FLAG: the word lives in a file both processes map.
  const long r = syscall(SYS_futex, word, FUTEX_WAIT, expected, &ts, nullptr, 0);
  if (r == 0) return 0;
  return errno == ETIMEDOUT ? 1 : errno == EAGAIN ? 2 : 3;
}

int futexWake(int32_t* word, int32_t count) {
  const long r = syscall(SYS_futex, word, FUTEX_WAKE, count, nullptr, nullptr, 0);
  return r < 0 ? -1 : static_cast<int>(r);
}

}  // namespace ringtrain
