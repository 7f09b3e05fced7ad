#pragma once
#include <cstdint>

namespace distgpt {

int64_t resident_bytes();      // this process's RSS
int64_t total_memory_bytes();  // the machine's RAM

}  // namespace distgpt
