// Shared memory between ringtrain processes on one host: a file in /dev/shm (tmpfs), mapped by
// both ends of a ring link so payloads cross with one memcpy each way instead of a trip through
// the loopback TCP stack.
#pragma once

#include <cstddef>
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

}  // namespace ringtrain
