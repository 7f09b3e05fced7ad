#pragma once
#include "serve/chat_template.h"

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace distgpt {

// A request the API refuses, as OpenAI's clients expect to read it:
// {"error": {"message", "type", "param", "code"}} with an HTTP status.
struct ApiError : std::runtime_error {
    int status = 400;
    std::string type = "invalid_request_error";
    std::string param;  // the field at fault, if one is
    std::string code;   // "context_length_exceeded", "invalid_api_key", …
    ApiError(int http_status, const std::string& message, std::string field = {}, std::string error_code = {},
             std::string error_type = "invalid_request_error")
        : std::runtime_error(message),
          status(http_status),
          type(std::move(error_type)),
          param(std::move(field)),
          code(std::move(error_code)) {}
    std::string body() const;  // the JSON document
};

enum class ApiEndpoint { Completions, ChatCompletions };

// POST /v1/completions or /v1/chat/completions, read and checked.
struct CompletionRequest {
    ApiEndpoint endpoint = ApiEndpoint::Completions;
    std::string model;
    std::string prompt;                 // completions
    std::vector<ChatMessage> messages;  // chat
    std::optional<int> max_tokens;      // none: completions 16, chat what the context leaves
    float temperature = 1.0f, top_p = 1.0f;
    int top_k = 0;  // 0: all (an extension, as llama.cpp's server has it)
    std::optional<uint64_t> seed;
    std::vector<std::string> stop;
    bool stream = false;
    bool ignore_eos = false;  // an extension (llama.cpp's and vLLM's too): generate max_tokens whatever comes, for benchmarks
};

// Throws ApiError (400) for a body that is not JSON, a field of the wrong
// type or out of range (naming it), or something this server does not do
// (n > 1, penalties, logprobs). Fields it does not know are ignored, as
// OpenAI's clients send more than a server may use.
CompletionRequest parse_completion_request(std::string_view body, ApiEndpoint endpoint);

}  // namespace distgpt
