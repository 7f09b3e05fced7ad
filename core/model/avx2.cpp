#include "model/avx2.h"

#include <cstdlib>
#include <string_view>

namespace distgpt {

bool use_avx2_kernels() {
#if DISTGPT_AVX2_KERNELS
    static const bool yes = [] {
        const char* kernels = std::getenv("DISTGPT_KERNELS");
        if (kernels && std::string_view(kernels) == "portable") return false;
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    }();
    return yes;
#else
    return false;
#endif
}

}  // namespace distgpt
