#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace distgpt {

enum class ChatRole { System, User, Assistant };

struct ChatMessage {
    ChatRole role = ChatRole::User;
    std::string content;
};

// The chat formats of the families distgpt loads, and a plain one for base
// models (the demo models) that were never taught a format.
enum class ChatTemplate { Plain, Llama2, Llama3, ChatML, Mistral };

std::string_view chat_template_name(ChatTemplate t);  // "llama-3", "chatml", …

// The format a model folder's tokenizer_config.json names in
// "chat_template", recognised by its markers; Plain when the file or the
// field is absent (or `model_dir` is empty). Throws Error for a template it does not recognise,
// saying which ones it knows.
ChatTemplate chat_template_of(const std::filesystem::path& model_dir);
// The same for the template's text (Jinja); nullopt when it is none we know.
std::optional<ChatTemplate> recognise_chat_template(std::string_view jinja);

// The prompt text for `messages`, ending where the assistant's reply
// starts. Without a BOS token: the tokenizer adds that where it should
// (Tokenizer::encode_prompt). Throws Error for an empty conversation or
// one the format cannot say (two system messages, a reply with no question
// before it where the format needs turns to alternate).
std::string apply_chat_template(ChatTemplate t, const std::vector<ChatMessage>& messages);

// Text that ends the assistant's turn in the format, to stop at even when
// the model's configuration does not list its token as an end of text.
std::vector<std::string> chat_turn_end(ChatTemplate t);

}  // namespace distgpt
