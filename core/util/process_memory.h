#pragma once
#include <cstdint>

namespace distgpt {

int64_t resident_bytes();          // this process's RSS
int64_t total_memory_bytes();      // the machine's RAM
int64_t available_memory_bytes();  // what the machine could still give (MemAvailable)

}  // namespace distgpt
