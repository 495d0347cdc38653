#include "affinity.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <sched.h>

namespace ringtrain {

std::string bindProcessToCpus(const std::vector<int>& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : cpus) {
    if (c < 0 || c >= CPU_SETSIZE) return "CPU " + std::to_string(c) + " is outside 0.." + std::to_string(CPU_SETSIZE - 1);
    CPU_SET(c, &set);
  }
  // sched_setaffinity acts on one thread; threads created later inherit their creator's mask,
  // so binding every thread listed now covers the process for good.
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return std::string("cannot list /proc/self/task: ") + std::strerror(errno);
  std::string error;
  int bound = 0;
  for (struct dirent* e = readdir(dir); e != nullptr; e = readdir(dir)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    const pid_t tid = static_cast<pid_t>(std::strtol(e->d_name, nullptr, 10));
    if (sched_setaffinity(tid, sizeof(set), &set) != 0) {
      // A thread that exited since the listing is not an error.
      if (errno == ESRCH) continue;
      error = std::string("sched_setaffinity: ") + std::strerror(errno);
      break;
    }
    bound++;
  }
  closedir(dir);
  if (error.empty() && bound == 0) error = "no thread of this process could be bound";
  return error;
}

}  // namespace ringtrain
