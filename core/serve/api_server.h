#pragma once
#include "serve/chat_template.h"
#include "serve/serve_metrics.h"
#include "serve/serving_session.h"
#include "tokenizer/tokenizer.h"

#include <memory>
#include <string>
#include <vector>

namespace distgpt {

struct ApiServerOptions {
    std::string host = "127.0.0.1";  // loopback unless told otherwise
    int port = 8080;                 // 0: any free port (port() says which)
    std::string api_key;             // set: every request needs "Authorization: Bearer KEY"
    std::size_t max_body_bytes = std::size_t(1) << 20;
    int threads = 0;  // request threads; 0: enough for every slot and queue place, and a few more
};

// What the API says of the model it serves.
struct ServedModel {
    std::string name;  // GET /v1/models' id
    const Tokenizer* tokenizer = nullptr;
    std::vector<int> end_of_text;  // ids that end a text
    int context = 0;               // tokens a prompt and its completion share
    ChatTemplate chat = ChatTemplate::Plain;
};

// The OpenAI-compatible HTTP API over a serving session: GET /v1/models,
// POST /v1/completions and /v1/chat/completions (whole, or streamed as
// server-sent events), GET /health, GET /metrics (Prometheus). Every
// refusal is OpenAI's JSON error with a 4xx status.
class ApiServer {
public:
    ApiServer(ServingSession& session, ServeMetrics& metrics, ServedModel model, ApiServerOptions options);
    ~ApiServer();  // stops listening; requests still open end

    // Binds the address; throws Error naming it when it cannot.
    void bind();
    int port() const;
    // Serves until stop(), on the calling thread.
    void listen();
    void stop();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace distgpt
