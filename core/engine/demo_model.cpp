#include "engine/demo_model.h"

#include <cstdlib>

namespace distgpt {

std::vector<DemoModel> demo_models() { return {DemoModel::ShakespeareChar, DemoModel::ShakespeareLlama}; }

std::string demo_name(DemoModel demo) {
    switch (demo) {
        case DemoModel::ShakespeareChar: return "shakespeare-char";
        case DemoModel::ShakespeareLlama: return "shakespeare-llama";
    }
    return {};
}

std::optional<DemoModel> demo_named(const std::string& name) {
    for (DemoModel d : demo_models())
        if (demo_name(d) == name) return d;
    return std::nullopt;
}

std::optional<std::filesystem::path> find_resource(const std::filesystem::path& relative) {
    std::error_code ec;
    const auto exe_dir = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path();
    std::vector<std::filesystem::path> candidates;
    if (!ec) candidates.push_back(exe_dir / ".." / "share" / "distgpt" / relative);
    candidates.push_back(std::filesystem::path(DISTGPT_RESOURCES_DIR) / relative);
    for (const auto& c : candidates)
        if (std::filesystem::exists(c, ec)) return std::filesystem::weakly_canonical(c, ec);
    return std::nullopt;
}

std::optional<std::filesystem::path> find_demo_model(DemoModel demo) {
    std::error_code ec;
    if (const char* env = std::getenv("DISTGPT_DEMO_MODEL"); env && demo == DemoModel::ShakespeareChar)
        if (std::filesystem::exists(std::filesystem::path(env) / "config.json", ec)) return std::filesystem::weakly_canonical(env, ec);
    const auto found = find_resource(std::filesystem::path("models") / demo_name(demo) / "config.json");
    if (!found) return std::nullopt;
    return found->parent_path();
}

}  // namespace distgpt
