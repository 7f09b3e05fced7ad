#include "engine/demo_model.h"

#include <cstdlib>
#include <vector>

namespace distgpt {

std::optional<std::filesystem::path> find_demo_model() {
    std::vector<std::filesystem::path> candidates;
    if (const char* env = std::getenv("DISTGPT_DEMO_MODEL")) candidates.emplace_back(env);
    std::error_code ec;
    const auto exe_dir = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path();
    if (!ec) candidates.push_back(exe_dir / ".." / "share" / "distgpt" / "models" / "shakespeare-char");
    candidates.push_back(std::filesystem::path(DISTGPT_RESOURCES_DIR) / "models" / "shakespeare-char");
    for (const auto& c : candidates)
        if (std::filesystem::exists(c / "config.json", ec)) return std::filesystem::weakly_canonical(c, ec);
    return std::nullopt;
}

}  // namespace distgpt
