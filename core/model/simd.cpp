#include "model/simd.h"

#include <cstdlib>
#include <string_view>

namespace distgpt {

namespace {

bool portable_asked() {
    const char* kernels = std::getenv("DISTGPT_KERNELS");
    return kernels && std::string_view(kernels) == "portable";
}

}  // namespace

bool use_avx2_kernels() {
#if DISTGPT_AVX2_KERNELS
    static const bool yes =
        !portable_asked() && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
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
