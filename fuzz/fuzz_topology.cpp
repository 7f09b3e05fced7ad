// Any text as a topology file: an Error, or a topology the planner accepts or refuses cleanly.
#include "plan/planner.h"
#include "util/error.h"

#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        const distgpt::Topology t = distgpt::parse_topology(std::string(reinterpret_cast<const char*>(data), size));
        (void)distgpt::make_plan(t, distgpt::model_preset("gpt2"), 2, 256);
    } catch (const distgpt::Error&) {}
    return 0;
}
