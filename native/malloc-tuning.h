// glibc malloc settings for a long-running worker: keep freed memory for reuse instead of giving
// it back to the kernel after every burst (see malloc-tuning.cc).
#pragma once

#include <string>

namespace ringtrain {

// Sets M_MMAP_THRESHOLD, M_TRIM_THRESHOLD and M_TOP_PAD (bytes). Returns '' when applied, else why
// not (not glibc, or mallopt refused a value).
std::string retainFreedMemory(long mmapThreshold, long trimThreshold, long topPad);

}  // namespace ringtrain
