#include "util/boot_id.h"

#include <fstream>

namespace distgpt {

std::string boot_id() {
    std::ifstream in("/proc/sys/kernel/random/boot_id");
    std::string id;
    std::getline(in, id);
    return id;
}

}  // namespace distgpt
