#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace distgpt {

// The bundled demo models, both trained on Tiny Shakespeare by `distgpt-cli
// train` (see each folder's MODEL_CARD.md under resources/models).
enum class DemoModel {
    ShakespeareChar,   // GPT-2 block, one token per character: the default
    ShakespeareLlama,  // LLaMA block with grouped-query attention, a learned BPE vocabulary
};

std::vector<DemoModel> demo_models();
std::string demo_name(DemoModel demo);  // its folder: "shakespeare-char"
std::optional<DemoModel> demo_named(const std::string& name);

// Where a demo model is: $DISTGPT_DEMO_MODEL for the default one, then
// beside the installed programs (share/distgpt/models), then in the source tree.
std::optional<std::filesystem::path> find_demo_model(DemoModel demo = DemoModel::ShakespeareChar);

// A file distgpt ships (`relative` to resources/: "topologies/pipeline-2.json"),
// beside the installed programs (share/distgpt), then in the source tree.
std::optional<std::filesystem::path> find_resource(const std::filesystem::path& relative);

}  // namespace distgpt
