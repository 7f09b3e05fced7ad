#pragma once
#include <filesystem>
#include <optional>

namespace distgpt {

// The bundled demo model (a character-level GPT trained on Shakespeare by
// `distgpt-cli train`; see resources/models/shakespeare-char/MODEL_CARD.md),
// used when no model is given. Looked up in $DISTGPT_DEMO_MODEL, then beside
// the installed programs (share/distgpt/models), then in the source tree.
std::optional<std::filesystem::path> find_demo_model();

}  // namespace distgpt
