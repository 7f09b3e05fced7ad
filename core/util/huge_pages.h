#pragma once
#include <cstddef>

namespace distgpt {

// Memory for large buffers that are streamed end to end (weights, the
// bandwidth probe): its whole 2 MiB pages are marked for transparent huge
// pages, so the TLB covers 512x more of it. Free with std::free; nullptr if
// out of memory.
void* allocate_streamed(std::size_t bytes);

}  // namespace distgpt
