#include "serve/api_request.h"

#include <nlohmann/json.hpp>

#include <cmath>

namespace distgpt {

using nlohmann::json;

std::string ApiError::body() const {
    const json e = {{"error",
                     {{"message", what()},
                      {"type", type},
                      {"param", param.empty() ? json() : json(param)},
                      {"code", code.empty() ? json() : json(code)}}}};
    return e.dump(-1, ' ', false, json::error_handler_t::replace);
}

namespace {

std::string type_name(const json& v) {
    if (v.is_null()) return "null";
    if (v.is_boolean()) return "a boolean";
    if (v.is_number()) return "a number";
    if (v.is_string()) return "a string";
    if (v.is_array()) return "an array";
    return "an object";
}

[[noreturn]] void wrong(const std::string& field, const std::string& want, const json& got) {
    throw ApiError(400, "'" + field + "' must be " + want + ", not " + type_name(got), field);
}

// A field that is absent or null leaves the default.
const json* field(const json& body, const char* name) {
    const auto it = body.find(name);
    return it == body.end() || it->is_null() ? nullptr : &*it;
}

double number(const json& body, const char* name, double low, double high, double fallback) {
    const json* v = field(body, name);
    if (!v) return fallback;
    if (!v->is_number()) wrong(name, "a number", *v);
    const double x = v->get<double>();
    if (!(x >= low && x <= high))
        throw ApiError(
            400, "'" + std::string(name) + "' must be from " + json(low).dump() + " to " + json(high).dump() + ", not " + v->dump(), name);
    return x;
}

std::optional<int64_t> integer(const json& body, const char* name, int64_t low, int64_t high) {
    const json* v = field(body, name);
    if (!v) return std::nullopt;
    if (!v->is_number_integer()) wrong(name, "an integer", *v);
    const int64_t x = v->is_number_unsigned() && v->get<uint64_t>() > uint64_t(INT64_MAX) ? INT64_MAX : v->get<int64_t>();
    if (x < low || x > high)
        throw ApiError(
            400, "'" + std::string(name) + "' must be from " + std::to_string(low) + " to " + std::to_string(high) + ", not " + v->dump(),
            name);
    return x;
}

// A message's content: a string, or OpenAI's list of parts, text ones only.
std::string content_of(const json& m, const std::string& where) {
    const json* c = field(m, "content");
    if (!c) return "";
    if (c->is_string()) return c->get<std::string>();
    if (!c->is_array()) wrong(where + ".content", "a string or a list of text parts", *c);
    std::string text;
    for (const auto& part : *c) {
        const json* type = part.is_object() ? field(part, "type") : nullptr;
        if (!type || *type != "text" || !part.contains("text") || !part["text"].is_string())
            throw ApiError(400, where + ".content: only text parts ({\"type\": \"text\", \"text\": …}) can be read by this model",
                           where + ".content");
        text += part["text"].get<std::string>();
    }
    return text;
}

std::vector<ChatMessage> messages_of(const json& body) {
    const json* v = field(body, "messages");
    if (!v) throw ApiError(400, "'messages' is required", "messages");
    if (!v->is_array()) wrong("messages", "an array", *v);
    if (v->empty()) throw ApiError(400, "'messages' must hold at least one message", "messages");
    std::vector<ChatMessage> out;
    for (std::size_t i = 0; i < v->size(); ++i) {
        const json& m = (*v)[i];
        const std::string where = "messages[" + std::to_string(i) + "]";
        if (!m.is_object()) wrong(where, "an object", m);
        const json* role = field(m, "role");
        if (!role || !role->is_string()) throw ApiError(400, where + ".role must be a string", where + ".role");
        const std::string r = role->get<std::string>();
        ChatMessage message;
        if (r == "system" || r == "developer")
            message.role = ChatRole::System;
        else if (r == "user")
            message.role = ChatRole::User;
        else if (r == "assistant")
            message.role = ChatRole::Assistant;
        else
            throw ApiError(400, where + ".role '" + r + "' is not one this server knows (system, developer, user, assistant)",
                           where + ".role");
        message.content = content_of(m, where);
        out.push_back(std::move(message));
    }
    return out;
}

std::string prompt_of(const json& body) {
    const json* v = field(body, "prompt");
    if (!v) throw ApiError(400, "'prompt' is required", "prompt");
    if (v->is_string()) return v->get<std::string>();
    if (v->is_array() && v->size() == 1 && (*v)[0].is_string()) return (*v)[0].get<std::string>();
    if (v->is_array()) throw ApiError(400, "'prompt' must be one string: send one request per prompt", "prompt");
    wrong("prompt", "a string", *v);
}

std::vector<std::string> stop_of(const json& body) {
    const json* v = field(body, "stop");
    if (!v) return {};
    std::vector<std::string> out;
    if (v->is_string()) {
        out.push_back(v->get<std::string>());
    } else if (v->is_array()) {
        for (const auto& s : *v) {
            if (!s.is_string()) wrong("stop", "a string or an array of strings", *v);
            out.push_back(s.get<std::string>());
        }
    } else {
        wrong("stop", "a string or an array of strings", *v);
    }
    if (out.size() > 4) throw ApiError(400, "'stop' holds at most 4 strings, not " + std::to_string(out.size()), "stop");
    for (const auto& s : out)
        if (s.empty()) throw ApiError(400, "'stop' strings must not be empty", "stop");
    return out;
}

// Options this server does not have, refused rather than ignored when asked for.
void refuse_unsupported(const json& body) {
    if (const auto n = integer(body, "n", 1, 128); n && *n != 1)
        throw ApiError(400, "'n' must be 1: this server makes one choice per request", "n");
    for (const char* penalty : {"presence_penalty", "frequency_penalty"})
        if (number(body, penalty, -2, 2, 0) != 0)
            throw ApiError(400, "'" + std::string(penalty) + "' is not supported: leave it out or 0", penalty);
    if (const json* v = field(body, "logprobs"); v && !(v->is_boolean() && !v->get<bool>()))
        throw ApiError(400, "'logprobs' is not supported", "logprobs");
    if (const json* v = field(body, "best_of"); v && !(v->is_number_integer() && v->get<int64_t>() == 1))
        throw ApiError(400, "'best_of' must be 1", "best_of");
    if (const json* v = field(body, "echo"); v && !(v->is_boolean() && !v->get<bool>()))
        throw ApiError(400, "'echo' is not supported", "echo");
    if (const json* v = field(body, "suffix"); v && !(v->is_string() && v->get<std::string>().empty()))
        throw ApiError(400, "'suffix' is not supported", "suffix");
}

}  // namespace

CompletionRequest parse_completion_request(std::string_view text, ApiEndpoint endpoint) try {
    json body;
    try {
        body = json::parse(text);
    } catch (const json::exception& e) {  // a syntax error, or a number beyond a double's range
        throw ApiError(400, std::string("the body is not valid JSON: ") + e.what());
    }
    if (!body.is_object()) throw ApiError(400, "the body must be a JSON object, not " + type_name(body));
    CompletionRequest r;
    r.endpoint = endpoint;
    if (const json* m = field(body, "model")) {
        if (!m->is_string()) wrong("model", "a string", *m);
        r.model = m->get<std::string>();
    }
    if (endpoint == ApiEndpoint::ChatCompletions)
        r.messages = messages_of(body);
    else
        r.prompt = prompt_of(body);
    refuse_unsupported(body);
    // max_completion_tokens is the chat API's newer name for it.
    for (const char* name : {"max_tokens", "max_completion_tokens"})
        if (const auto n = integer(body, name, 1, int64_t(1) << 30)) r.max_tokens = static_cast<int>(*n);
    r.temperature = static_cast<float>(number(body, "temperature", 0, 2, 1));
    r.top_p = static_cast<float>(number(body, "top_p", 0, 1, 1));
    if (const json* v = field(body, "top_p"); v && r.top_p == 0) throw ApiError(400, "'top_p' must be above 0", "top_p");
    if (const auto k = integer(body, "top_k", 0, int64_t(1) << 30)) r.top_k = static_cast<int>(*k);
    if (const json* v = field(body, "seed")) {
        if (!v->is_number_integer()) wrong("seed", "an integer", *v);
        r.seed = v->is_number_unsigned() ? v->get<uint64_t>() : static_cast<uint64_t>(v->get<int64_t>());
    }
    r.stop = stop_of(body);
    if (const json* v = field(body, "stream")) {
        if (!v->is_boolean()) wrong("stream", "true or false", *v);
        r.stream = v->get<bool>();
    }
    if (const json* v = field(body, "ignore_eos")) {
        if (!v->is_boolean()) wrong("ignore_eos", "true or false", *v);
        r.ignore_eos = v->get<bool>();
    }
    if (const json* v = field(body, "stream_options"); v && !v->is_object()) wrong("stream_options", "an object", *v);
    return r;
} catch (const json::exception& e) {  // a field read as the wrong type somewhere not checked by name
    throw ApiError(400, std::string("the request has a field of the wrong type: ") + e.what());
}

}  // namespace distgpt
