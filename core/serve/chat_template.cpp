#include "serve/chat_template.h"

#include "util/error.h"

#include <nlohmann/json.hpp>

#include <fstream>

namespace distgpt {

using nlohmann::json;

std::string_view chat_template_name(ChatTemplate t) {
    switch (t) {
        case ChatTemplate::Plain: return "plain";
        case ChatTemplate::Llama2: return "llama-2";
        case ChatTemplate::Llama3: return "llama-3";
        case ChatTemplate::ChatML: return "chatml";
        case ChatTemplate::Mistral: return "mistral";
    }
    return "plain";
}

std::optional<ChatTemplate> recognise_chat_template(std::string_view jinja) {
    auto has = [&](std::string_view marker) { return jinja.find(marker) != std::string_view::npos; };
    // Most specific first: Llama 2's template also has [INST].
    if (has("<|start_header_id|>")) return ChatTemplate::Llama3;
    if (has("<|im_start|>")) return ChatTemplate::ChatML;
    if (has("<<SYS>>")) return ChatTemplate::Llama2;
    if (has("[INST]")) return ChatTemplate::Mistral;
    return std::nullopt;
}

ChatTemplate chat_template_of(const std::filesystem::path& model_dir) {
    if (model_dir.empty()) return ChatTemplate::Plain;
    const auto file = model_dir / "tokenizer_config.json";
    std::ifstream in(file);
    if (!in) return ChatTemplate::Plain;
    json config;
    try {
        config = json::parse(in);
    } catch (const json::exception& e) {
        throw Error(file.string() + " is not JSON: " + e.what());
    }
    const json t = config.value("chat_template", json());
    std::string jinja;
    if (t.is_string()) {
        jinja = t.get<std::string>();
    } else if (t.is_array()) {  // [{"name": "default", "template": …}, …]
        for (const auto& named : t)
            if (named.is_object() && named.value("name", "") == "default" && named.value("template", json()).is_string())
                jinja = named["template"].get<std::string>();
    } else if (!t.is_null()) {
        throw Error(file.string() + ": chat_template must be a string or a list of named templates");
    }
    if (jinja.empty()) return ChatTemplate::Plain;
    if (const auto known = recognise_chat_template(jinja)) return *known;
    throw Error(file.string() +
                " names a chat template distgpt cannot apply (it knows Llama 2, Llama 3, ChatML and Mistral's); "
                "use /v1/completions with the prompt written out, or remove chat_template to chat in plain text");
}

namespace {

std::string_view role_name(ChatRole r) {
    switch (r) {
        case ChatRole::System: return "system";
        case ChatRole::User: return "user";
        case ChatRole::Assistant: return "assistant";
    }
    return "user";
}

// The system message, if the conversation starts with one, and the rest.
// Formats that fold the system message into the first turn need turns that
// alternate user, assistant, user, … and end with the user.
struct Turns {
    std::optional<std::string> system;
    std::vector<ChatMessage> rest;
};

Turns alternating_turns(const std::vector<ChatMessage>& messages, std::string_view format) {
    Turns t;
    for (std::size_t i = 0; i < messages.size(); ++i) {
        if (messages[i].role == ChatRole::System) {
            if (i != 0) throw Error(std::string(format) + " chat allows one system message, first");
            t.system = messages[i].content;
            continue;
        }
        const ChatRole expected = t.rest.size() % 2 == 0 ? ChatRole::User : ChatRole::Assistant;
        if (messages[i].role != expected)
            throw Error(std::string(format) + " chat needs user and assistant messages in turn, starting with the user; message " +
                        std::to_string(i + 1) + " is the " + std::string(role_name(messages[i].role)) + "'s");
        t.rest.push_back(messages[i]);
    }
    if (t.rest.empty() || t.rest.back().role != ChatRole::User) throw Error(std::string(format) + " chat must end with the user's message");
    return t;
}

std::string llama2(const std::vector<ChatMessage>& messages) {
    const Turns t = alternating_turns(messages, "Llama 2");
    std::string out;
    for (std::size_t i = 0; i < t.rest.size(); i += 2) {
        std::string user = t.rest[i].content;
        if (i == 0 && t.system) user = "<<SYS>>\n" + *t.system + "\n<</SYS>>\n\n" + user;
        if (i > 0) out += "<s>";  // the first BOS is the tokenizer's
        out += "[INST] " + user + " [/INST]";
        if (i + 1 < t.rest.size()) out += " " + t.rest[i + 1].content + " </s>";
    }
    return out;
}

std::string mistral(const std::vector<ChatMessage>& messages) {
    const Turns t = alternating_turns(messages, "Mistral");
    std::string out;
    for (std::size_t i = 0; i < t.rest.size(); i += 2) {
        std::string user = t.rest[i].content;
        if (i == 0 && t.system) user = *t.system + "\n\n" + user;
        out += "[INST] " + user + " [/INST]";
        if (i + 1 < t.rest.size()) out += t.rest[i + 1].content + "</s>";
    }
    return out;
}

std::string llama3(const std::vector<ChatMessage>& messages) {
    std::string out;
    for (const auto& m : messages)
        out += "<|start_header_id|>" + std::string(role_name(m.role)) + "<|end_header_id|>\n\n" + m.content + "<|eot_id|>";
    return out + "<|start_header_id|>assistant<|end_header_id|>\n\n";
}

std::string chatml(const std::vector<ChatMessage>& messages) {
    std::string out;
    for (const auto& m : messages) out += "<|im_start|>" + std::string(role_name(m.role)) + "\n" + m.content + "<|im_end|>\n";
    return out + "<|im_start|>assistant\n";
}

// A transcript a base model can continue.
std::string plain(const std::vector<ChatMessage>& messages) {
    std::string out;
    for (const auto& m : messages) {
        std::string role(role_name(m.role));
        role[0] = static_cast<char>(role[0] - 'a' + 'A');
        out += role + ": " + m.content + "\n";
    }
    return out + "Assistant:";
}

}  // namespace

std::string apply_chat_template(ChatTemplate t, const std::vector<ChatMessage>& messages) {
    if (messages.empty()) throw Error("a chat needs at least one message");
    switch (t) {
        case ChatTemplate::Llama2: return llama2(messages);
        case ChatTemplate::Mistral: return mistral(messages);
        case ChatTemplate::Llama3: return llama3(messages);
        case ChatTemplate::ChatML: return chatml(messages);
        case ChatTemplate::Plain: return plain(messages);
    }
    return plain(messages);
}

std::vector<std::string> chat_turn_end(ChatTemplate t) {
    switch (t) {
        case ChatTemplate::Llama3: return {"<|eot_id|>"};
        case ChatTemplate::ChatML: return {"<|im_end|>"};
        case ChatTemplate::Llama2:
        case ChatTemplate::Mistral: return {"</s>"};
        case ChatTemplate::Plain: return {"\nUser:"};  // the base model starts the user's next line
    }
    return {};
}

}  // namespace distgpt
