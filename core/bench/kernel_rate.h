#pragma once
#include "weights/weight_format.h"

namespace distgpt {

// Weights per second the decode kernel multiplies in `format` when nothing
// waits on memory: each of `threads` threads multiplies one input row by its
// own matrix of `columns`-wide rows small enough to stay in its core's L2,
// over and over, all at once. A token's weights divided by this is the
// kernel's compute roofline, the bound where the kernel, not the bus, is
// the limit (q4 on a core or two).
double measure_kernel_rate_in_cache(WeightFormat format, int columns, int threads);

}  // namespace distgpt
