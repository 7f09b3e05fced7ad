#include "serve/api_server.h"

#include "serve/api_request.h"
#include "serve/text_stream.h"
#include "util/error.h"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <random>

namespace distgpt {

using nlohmann::json;

namespace {

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

int64_t unix_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// OpenAI's finish reasons: a stop string or the end of text is "stop".
std::string finish_reason(FinishReason reason, bool hit_stop_string) {
    if (hit_stop_string) return "stop";
    return reason == FinishReason::Length ? "length" : "stop";
}

// The endpoint a metric counts a request under: the API's own paths, and
// "other" for the rest (a stranger's paths must not grow the metrics).
std::string endpoint_label(const std::string& path) {
    for (const char* known : {"/v1/models", "/v1/completions", "/v1/chat/completions", "/health", "/metrics"})
        if (path == known) return path;
    return "other";
}

// A completion's text as its tokens come, and its tokens up to a stop string.
struct Completion {
    TextStream text;
    int tokens = 0;
    // The text `ids` add; nothing past a stop string.
    std::string take(const std::vector<int>& ids) {
        std::string piece;
        for (int id : ids) {
            if (text.stopped()) break;
            ++tokens;
            piece += text.push(id);
        }
        return piece;
    }
};

// Ended neither by its own rule nor at a stop string: the cluster failed, or the server stops.
bool cut_short(std::optional<FinishReason> finish, bool at_stop_string) {
    return !at_stop_string && (finish == FinishReason::Interrupted || finish == FinishReason::Stopped);
}

// Compares without leaking where a wrong key first differs.
bool same_key(const std::string& a, const std::string& b) {
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
    return diff == 0;
}

}  // namespace

struct ApiServer::Impl {
    ServingSession& session;
    ServeMetrics& metrics;
    ServedModel model;
    ApiServerOptions options;
    httplib::Server http;
    int bound_port = -1;
    const int64_t created = unix_seconds();
    std::atomic<uint64_t> next_seed{std::random_device{}()};

    Impl(ServingSession& s, ServeMetrics& m, ServedModel served, ApiServerOptions o)
        : session(s), metrics(m), model(std::move(served)), options(std::move(o)) {
        const int threads = options.threads > 0 ? options.threads : session.max_in_flight() + session.queue() + 8;
        http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<std::size_t>(threads)); };
        http.set_payload_max_length(options.max_body_bytes);
        http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) { return authorize(req, res); });
        // httplib answers some requests itself (no route, a body too large):
        // they get OpenAI's error shape too.
        http.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
            if (!res.body.empty()) return;
            if (res.status == 404)
                reply(res, req.path,
                      ApiError(404, "no such endpoint: " + req.method + " " + req.path +
                                        " (this server has GET /v1/models, POST /v1/completions, POST /v1/chat/completions, "
                                        "GET /health, GET /metrics)"));
            else if (res.status == 413)
                reply(res, req.path, ApiError(413, "the request body is over " + std::to_string(options.max_body_bytes) + " bytes"));
            else
                reply(res, req.path, ApiError(res.status, "the request could not be read (HTTP " + std::to_string(res.status) + ")"));
        });
        http.set_exception_handler([this](const httplib::Request& req, httplib::Response& res, std::exception_ptr e) {
            std::string why = "unknown error";
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                why = x.what();
            } catch (...) {}
            reply(res, req.path, ApiError(500, "the server failed on this request: " + why, {}, {}, "server_error"));
        });
        http.Get("/health", [this](const httplib::Request& req, httplib::Response& res) { health(req, res); });
        http.Get("/v1/models", [this](const httplib::Request& req, httplib::Response& res) { models(req, res); });
        http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
            res.set_content(metrics.render(), "text/plain; version=0.0.4");
        });
        http.Post("/v1/completions",
                  [this](const httplib::Request& req, httplib::Response& res) { complete(req, res, ApiEndpoint::Completions); });
        http.Post("/v1/chat/completions",
                  [this](const httplib::Request& req, httplib::Response& res) { complete(req, res, ApiEndpoint::ChatCompletions); });
    }

    void reply(httplib::Response& res, const std::string& endpoint, const ApiError& e) {
        res.status = e.status;
        res.set_content(e.body(), "application/json");
        metrics.request(endpoint_label(endpoint), e.status);
    }

    void reply(httplib::Response& res, const std::string& endpoint, const json& body) {
        res.status = 200;
        res.set_content(dump(body), "application/json");
        metrics.request(endpoint_label(endpoint), 200);
    }

    httplib::Server::HandlerResponse authorize(const httplib::Request& req, httplib::Response& res) {
        if (options.api_key.empty()) return httplib::Server::HandlerResponse::Unhandled;
        const std::string header = req.get_header_value("Authorization");
        const std::string bearer = "Bearer ";
        if (header.rfind(bearer, 0) == 0 && same_key(header.substr(bearer.size()), options.api_key))
            return httplib::Server::HandlerResponse::Unhandled;
        reply(res, req.path,
              ApiError(
                  401,
                  header.empty() ? "this server needs an API key: send \"Authorization: Bearer KEY\"" : "the API key is not this server's",
                  {}, "invalid_api_key", "authentication_error"));
        return httplib::Server::HandlerResponse::Handled;
    }

    void health(const httplib::Request& req, httplib::Response& res) {
        if (const auto failure = session.failure()) {
            res.status = 503;
            res.set_content(dump({{"status", "failed"}, {"error", *failure}}), "application/json");
            metrics.request(endpoint_label(req.path), 503);
            return;
        }
        reply(res, req.path, json{{"status", "ok"}, {"running", session.running()}, {"waiting", session.waiting()}});
    }

    void models(const httplib::Request& req, httplib::Response& res) {
        reply(res, req.path,
              json{{"object", "list"},
                   {"data", json::array({{{"id", model.name},
                                          {"object", "model"},
                                          {"created", created},
                                          {"owned_by", "distgpt"},
                                          {"context_length", model.context}}})}});
    }

    // A request as the run takes it: its prompt's ids and its options.
    struct Prepared {
        CompletionRequest request;
        std::vector<int> ids;
        GenerateOptions options;
        std::vector<std::string> stop;
        std::vector<int> end_of_text;  // ids that end the text and spell nothing in it
    };

    Prepared prepare(const std::string& body, ApiEndpoint endpoint) {
        Prepared p;
        p.request = parse_completion_request(body, endpoint);
        p.end_of_text = model.end_of_text;
        const CompletionRequest& r = p.request;
        std::string text = r.prompt;
        p.stop = r.stop;
        if (endpoint == ApiEndpoint::ChatCompletions) {
            try {
                text = apply_chat_template(model.chat, r.messages);
            } catch (const Error& e) {
                throw ApiError(400, e.what(), "messages");
            }
            for (auto& end : chat_turn_end(model.chat)) p.stop.push_back(end);
        }
        try {
            p.ids = model.tokenizer->encode_prompt(text);
        } catch (const Error& e) {
            throw ApiError(400, std::string("this model's tokenizer cannot read the prompt: ") + e.what(),
                           endpoint == ApiEndpoint::ChatCompletions ? "messages" : "prompt");
        }
        const int prompt = static_cast<int>(p.ids.size());
        if (prompt >= model.context)
            throw ApiError(400,
                           "the prompt is " + std::to_string(prompt) + " tokens; this model's context holds " +
                               std::to_string(model.context) + ", and at least one must be left for the completion",
                           endpoint == ApiEndpoint::ChatCompletions ? "messages" : "prompt", "context_length_exceeded");
        const int fits = model.context - prompt;
        const int max_tokens = r.max_tokens.value_or(endpoint == ApiEndpoint::Completions ? std::min(16, fits) : fits);
        if (max_tokens > fits)
            throw ApiError(400,
                           "max_tokens " + std::to_string(max_tokens) + " is more than fits: the prompt is " + std::to_string(prompt) +
                               " tokens of a " + std::to_string(model.context) + "-token context, so at most " + std::to_string(fits),
                           "max_tokens", "context_length_exceeded");
        p.options.max_new_tokens = max_tokens;
        p.options.sampling = {r.temperature, r.top_k, r.top_p, r.seed.value_or(next_seed.fetch_add(0x9E3779B97F4A7C15ull))};
        p.options.stop_at_eos = !r.ignore_eos;
        if (r.ignore_eos) p.end_of_text.clear();  // an end of text is then text like any other
        return p;
    }

    ApiError cut_short_error() const {
        return ApiError(503, "generation stopped: " + session.failure().value_or("the server is shutting down"), {}, "server_unavailable",
                        "server_error");
    }

    json usage(int prompt, int completion) const {
        return {{"prompt_tokens", prompt}, {"completion_tokens", completion}, {"total_tokens", prompt + completion}};
    }

    std::shared_ptr<RequestStream> submit(Prepared& p) {
        std::shared_ptr<RequestStream> stream;
        try {
            stream = session.submit(p.ids, p.options);
        } catch (const Error& e) {
            throw ApiError(503, e.what(), {}, "server_unavailable", "server_error");
        }
        if (!stream)
            throw ApiError(429,
                           "the server is full: " + std::to_string(session.running()) + " requests generating and " +
                               std::to_string(session.waiting()) + " waiting; try again shortly",
                           {}, "server_busy", "rate_limit_error");
        return stream;
    }

    void complete(const httplib::Request& req, httplib::Response& res, ApiEndpoint endpoint) {
        Prepared p;
        std::shared_ptr<RequestStream> stream;
        try {
            p = prepare(req.body, endpoint);
            stream = submit(p);
        } catch (const ApiError& e) {
            reply(res, req.path, e);
            return;
        }
        if (p.request.stream)
            stream_events(req, res, endpoint, std::move(p), std::move(stream));
        else
            complete_whole(req, res, endpoint, p, *stream);
    }

    std::string completion_id(ApiEndpoint endpoint, const RequestStream& s) const {
        return (endpoint == ApiEndpoint::ChatCompletions ? "chatcmpl-" : "cmpl-") + std::to_string(created) + "-" + std::to_string(s.id());
    }

    void complete_whole(const httplib::Request& req, httplib::Response& res, ApiEndpoint endpoint, const Prepared& p, RequestStream& s) {
        Completion c{TextStream(*model.tokenizer, p.end_of_text, p.stop)};
        std::optional<FinishReason> finish;
        while (!finish && !c.text.stopped()) {
            const auto news = s.wait(std::chrono::milliseconds(1000));
            c.take(news.tokens);
            finish = news.finish;
        }
        if (c.text.stopped()) s.cancel();
        if (cut_short(finish, c.text.stopped())) {
            reply(res, req.path, cut_short_error());
            return;
        }
        c.text.finish();
        const auto& text = c.text;
        const int completion = c.tokens;
        const std::string reason = finish_reason(finish.value_or(FinishReason::Stopped), text.stopped());
        json choice = {{"index", 0}, {"finish_reason", reason}, {"logprobs", nullptr}};
        if (endpoint == ApiEndpoint::ChatCompletions)
            choice["message"] = {{"role", "assistant"}, {"content", text.text()}};
        else
            choice["text"] = text.text();
        reply(res, req.path,
              json{{"id", completion_id(endpoint, s)},
                   {"object", endpoint == ApiEndpoint::ChatCompletions ? "chat.completion" : "text_completion"},
                   {"created", unix_seconds()},
                   {"model", model.name},
                   {"choices", json::array({choice})},
                   {"usage", usage(s.prompt_tokens(), completion)}});
    }

    // One server-sent event per piece of text, then one with the finish
    // reason and the usage, then [DONE]. A client that goes away cancels
    // the sequence: a write to it fails (within a keep-alive comment's
    // period when no token comes), or the connection ends.
    void stream_events(const httplib::Request& req, httplib::Response& res, ApiEndpoint endpoint, Prepared p,
                       std::shared_ptr<RequestStream> s) {
        struct Events {
            Completion completion;
            bool started = false;
        };
        auto events = std::make_shared<Events>(Events{{TextStream(*model.tokenizer, p.end_of_text, p.stop)}});
        const std::string id = completion_id(endpoint, *s);
        const bool chat = endpoint == ApiEndpoint::ChatCompletions;
        auto chunk = [this, id, chat](const json& delta_or_text, const json& finish) {
            json choice = {{"index", 0}, {"finish_reason", finish}, {"logprobs", nullptr}};
            if (chat)
                choice["delta"] = delta_or_text;
            else
                choice["text"] = delta_or_text;
            return json{{"id", id},
                        {"object", chat ? "chat.completion.chunk" : "text_completion"},
                        {"created", unix_seconds()},
                        {"model", model.name},
                        {"choices", json::array({choice})}};
        };
        auto send = [](httplib::DataSink& sink, const json& event) {
            const std::string line = "data: " + dump(event) + "\n\n";
            return sink.write(line.data(), line.size());
        };
        metrics.request(endpoint_label(req.path), 200);
        res.set_header("Cache-Control", "no-cache");
        res.set_chunked_content_provider(
            "text/event-stream",
            [this, s, events, chunk, send, chat](std::size_t, httplib::DataSink& sink) {
                Events& e = *events;
                if (!e.started) {
                    e.started = true;
                    if (chat && !send(sink, chunk(json{{"role", "assistant"}, {"content", ""}}, nullptr))) return cancel(*s);
                }
                const auto news = s->wait(std::chrono::milliseconds(250));
                const std::string piece = e.completion.take(news.tokens);
                const TextStream& text = e.completion.text;
                if (!piece.empty() && !send(sink, chunk(chat ? json{{"content", piece}} : json(piece), nullptr))) return cancel(*s);
                if (!text.stopped() && !news.finish) {
                    static const std::string alive = ": keep-alive\n\n";
                    if (piece.empty() && !sink.write(alive.data(), alive.size())) return cancel(*s);
                    return true;
                }
                if (text.stopped()) s->cancel();
                if (cut_short(news.finish, text.stopped())) {
                    const std::string line = "data: " + cut_short_error().body() + "\n\n";
                    sink.write(line.data(), line.size());
                } else {
                    const std::string rest = e.completion.text.finish();
                    json last = chunk(chat ? (rest.empty() ? json::object() : json{{"content", rest}}) : json(rest),
                                      finish_reason(news.finish.value_or(FinishReason::Stopped), text.stopped()));
                    last["usage"] = usage(s->prompt_tokens(), e.completion.tokens);
                    if (!send(sink, last)) return cancel(*s);
                }
                static const std::string done = "data: [DONE]\n\n";
                sink.write(done.data(), done.size());
                sink.done();
                return true;
            },
            [s](bool success) {
                if (!success) s->cancel();  // the connection ended before the last event
            });
    }

    static bool cancel(RequestStream& s) {
        s.cancel();
        return false;
    }
};

ApiServer::ApiServer(ServingSession& session, ServeMetrics& metrics, ServedModel model, ApiServerOptions options)
    : impl_(std::make_unique<Impl>(session, metrics, std::move(model), std::move(options))) {}

ApiServer::~ApiServer() { stop(); }

void ApiServer::bind() {
    auto& o = impl_->options;
    if (o.port < 0 || o.port > 65535) throw Error("--port must be 0 to 65535, not " + std::to_string(o.port));
    const int port = o.port == 0 ? impl_->http.bind_to_any_port(o.host) : (impl_->http.bind_to_port(o.host, o.port) ? o.port : -1);
    if (port < 0)
        throw Error("cannot listen on " + o.host + ":" + std::to_string(o.port) +
                    ": the port is taken or the address is not this machine's (choose another with --port or --host)");
    impl_->bound_port = port;
}

int ApiServer::port() const { return impl_->bound_port; }

void ApiServer::listen() {
    if (impl_->bound_port < 0) bind();
    impl_->http.listen_after_bind();
}

void ApiServer::stop() { impl_->http.stop(); }

}  // namespace distgpt
