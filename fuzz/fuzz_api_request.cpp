// Any bytes as the body of a completion or chat request, as a client sends
// them to distgpt-cli serve: an ApiError with a 4xx status and OpenAI's
// error document, or a request whose chat the plain format can say or refuse.
#include "serve/api_request.h"
#include "serve/chat_template.h"
#include "util/error.h"

#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const bool chat = data[0] & 1;  // the first byte picks the endpoint
    const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
    try {
        const auto r =
            distgpt::parse_completion_request(body, chat ? distgpt::ApiEndpoint::ChatCompletions : distgpt::ApiEndpoint::Completions);
        if (chat)
            for (auto format : {distgpt::ChatTemplate::Plain, distgpt::ChatTemplate::Llama2, distgpt::ChatTemplate::Llama3}) try {
                    (void)distgpt::apply_chat_template(format, r.messages);
                } catch (const distgpt::Error&) {}
    } catch (const distgpt::ApiError& e) {
        if (e.status < 400 || e.status >= 500) std::abort();
        (void)e.body();
    }
    return 0;
}
