#pragma once
#include <cstddef>

namespace distgpt {

// Bytes per second that `threads` threads read from a buffer of `bytes`,
// best of `repeats` passes: the bound on memory-bound decode for weights of
// that size (a buffer larger than the caches measures main memory).
double measure_read_bandwidth(std::size_t bytes, int threads, int repeats = 10);

}  // namespace distgpt
