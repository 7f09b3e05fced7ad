#include "util/process_memory.h"

#include <fstream>
#include <string>
#include <unistd.h>

namespace distgpt {

int64_t resident_bytes() {
    std::ifstream statm("/proc/self/statm");
    int64_t size = 0, resident = 0;
    statm >> size >> resident;
    return resident * sysconf(_SC_PAGESIZE);
}

int64_t available_memory_bytes() {
    std::ifstream meminfo("/proc/meminfo");
    for (std::string key; meminfo >> key;) {
        int64_t kib = 0;
        meminfo >> kib;
        if (key == "MemAvailable:") return kib * 1024;
        meminfo.ignore(1 << 10, '\n');
    }
    return 0;
}

int64_t total_memory_bytes() { return static_cast<int64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE); }

}  // namespace distgpt
