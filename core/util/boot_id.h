#pragma once
#include <string>

namespace distgpt {

// This machine's boot identifier (Linux: /proc/sys/kernel/random/boot_id), ""
// when unknown. Two processes with the same one read the same monotonic
// clock, so their timestamps need no offset estimate.
std::string boot_id();

}  // namespace distgpt
