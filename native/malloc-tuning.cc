// Why: every message a worker receives passes through buffers that Node and nghttp2 malloc and
// free (64 KiB socket reads, HTTP/2 frames, message buffers). With glibc's defaults, a free that
// leaves more than 128 KiB at the top of the heap gives it back to the kernel (trim), and blocks
// from 128 KiB up are mmap'd and unmapped one by one; the next burst then faults every page in
// again, zeroed. Measured on a 2-rank 100 MB gRPC all-reduce: 730K page faults and ~180 ms per
// all-reduce with the defaults, 213K and ~120-140 ms with memory kept. The settings are those of
// MALLOC_TOP_PAD_ / MALLOC_TRIM_THRESHOLD_ / MALLOC_MMAP_THRESHOLD_, applied from inside the
// process so every way of starting a worker (launch, Kubernetes, by hand) gets them.
#include "malloc-tuning.h"

#include <cstdlib>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace ringtrain {

std::string retainFreedMemory(long mmapThreshold, long trimThreshold, long topPad) {
#if defined(__GLIBC__)
  if (mallopt(M_MMAP_THRESHOLD, static_cast<int>(mmapThreshold)) != 1) return "mallopt refused M_MMAP_THRESHOLD";
  if (mallopt(M_TRIM_THRESHOLD, static_cast<int>(trimThreshold)) != 1) return "mallopt refused M_TRIM_THRESHOLD";
  if (mallopt(M_TOP_PAD, static_cast<int>(topPad)) != 1) return "mallopt refused M_TOP_PAD";
  return "";
#else
  (void)mmapThreshold;
  (void)trimThreshold;
  (void)topPad;
  return "the C library is not glibc";
#endif
}

}  // namespace ringtrain
