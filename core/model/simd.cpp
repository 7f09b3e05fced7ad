#include "model/simd.h"

#include <cstdlib>
#include <string_view>

#if DISTGPT_AVX2_KERNELS
#include <cpuid.h>
#endif

namespace distgpt {

namespace {

bool portable_asked() {
    const char* kernels = std::getenv("DISTGPT_KERNELS");
    return kernels && std::string_view(kernels) == "portable";
}

}  // namespace

bool use_avx2_kernels() {
#if DISTGPT_AVX2_KERNELS
    // F16C from cpuid itself: clang's __builtin_cpu_supports does not know it.
    static const bool yes = [] {
        unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
        const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C);
        return !portable_asked() && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
    }();
    return yes;
#else
    return false;
#endif
}

bool use_neon_kernels() {
#if DISTGPT_NEON_KERNELS
    static const bool yes = !portable_asked();
    return yes;
#else
    return false;
#endif
}

}  // namespace distgpt
