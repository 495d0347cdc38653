// CPU binding for a whole process: every thread of it (the main thread, V8's platform threads,
// libuv's pool) is kept on a given set of CPUs, as `taskset -a` or `mpirun --bind-to` do.
#pragma once

#include <string>
#include <vector>

namespace ringtrain {

// Binds every current thread of this process (and, through the main thread, every later one)
// to `cpus`. Returns '' on success, else why (the CPU that is out of range, or errno text).
std::string bindProcessToCpus(const std::vector<int>& cpus);

}  // namespace ringtrain
