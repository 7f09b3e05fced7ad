#include "util/huge_pages.h"

#include <cstdint>
#include <cstdlib>
#include <sys/mman.h>

namespace distgpt {

void* allocate_streamed(std::size_t bytes) {
    constexpr std::uintptr_t kPage = 4096, kHugePage = 2u << 20;
    const std::size_t rounded = (bytes + kPage - 1) / kPage * kPage;
    void* p = std::aligned_alloc(kPage, rounded);
    if (!p) return nullptr;
    // Only whole 2 MiB pages inside the buffer become huge: no memory is
    // wasted on rounding, and the edges keep small pages.
    const auto begin = (reinterpret_cast<std::uintptr_t>(p) + kHugePage - 1) / kHugePage * kHugePage;
    const auto end = (reinterpret_cast<std::uintptr_t>(p) + rounded) / kHugePage * kHugePage;
    if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);  // a hint only
    return p;
}

}  // namespace distgpt
