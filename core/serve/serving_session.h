#pragma once
#include "runtime/controller/cluster.h"
#include "serve/serve_metrics.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace distgpt {

// One request's sequence as its tokens come: the HTTP thread that serves
// the request waits on it; the run's thread fills it.
class RequestStream {
public:
    struct News {
        std::vector<int> tokens;             // since the last wait
        std::optional<FinishReason> finish;  // set once, with the last tokens
    };

    // Waits at most `timeout` for tokens or the end; returns what came.
    News wait(std::chrono::milliseconds timeout);
    // Ends the sequence early (the client left, or its text reached a stop
    // string): its slot frees at the next step; later tokens are dropped.
    void cancel();

    int64_t id() const { return id_; }
    int prompt_tokens() const { return prompt_tokens_; }

private:
    friend class ServingSession;
    RequestStream(int64_t id, int prompt_tokens, SequenceFeed& feed) : id_(id), prompt_tokens_(prompt_tokens), feed_(feed) {}

    const int64_t id_;
    const int prompt_tokens_;
    SequenceFeed& feed_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<int> tokens_;
    std::optional<FinishReason> finish_;
    bool cancelled_ = false;
    std::chrono::steady_clock::time_point arrived_ = std::chrono::steady_clock::now(), last_token_;
    bool any_token_ = false;
};

// What a serving run tells besides its requests' tokens (the app's views).
struct ServingObservers {
    std::function<void(int64_t sequence, const std::vector<int>& prompt)> on_arrival;  // on the request's thread
    std::function<void(const TokenMark&)> on_token;
    std::function<void(int64_t sequence, FinishReason)> on_finish;
    std::function<void(const std::vector<TraceSpan>&)> on_spans;
};

// A configured cluster serving requests: one run that sequences join as
// they come (continuous batching: a request takes a free slot at the next
// step, and a finished or cancelled one frees its own at once). At most
// `max_in_flight` generate; `queue` more wait; beyond that, submit refuses.
class ServingSession {
public:
    // Throws Error naming the flag when a limit is out of range (the CLI
    // asks before it plans; the session asks again).
    static void check_limits(int max_in_flight, int queue, int micro_batch);

    // `micro_batch`: requests that are waiting together start as one
    // micro-batch of up to that many, whose rows a stage computes in one step.
    ServingSession(Cluster& cluster, int max_in_flight, int queue, int micro_batch = 1, ServeMetrics* metrics = nullptr,
                   ServingObservers observers = {});
    ~ServingSession();  // ends the run: every request still open ends Stopped

    // A new request's sequence, or nullptr when every slot and place in the
    // queue is taken. Throws Error once the run has failed (failure()).
    std::shared_ptr<RequestStream> submit(std::vector<int> prompt, const GenerateOptions& options);

    int running() const;  // requests generating
    int waiting() const;  // requests waiting for a slot
    int max_in_flight() const { return max_in_flight_; }
    int queue() const { return queue_; }
    // Why the run ended while serving (no plan fits the nodes left), or nullopt.
    std::optional<std::string> failure() const;

private:
    // Under mutex_: the open requests, those generating and those waiting.
    std::pair<int, int> running_and_waiting() const;
    void serve();
    void on_token(const TokenMark& t);
    void on_finish(int64_t sequence, FinishReason reason);

    Cluster& cluster_;
    const int max_in_flight_, queue_, micro_batch_;
    ServeMetrics* metrics_;
    ServingObservers observers_;
    SequenceFeed feed_;
    mutable std::mutex mutex_;
    std::map<int64_t, std::shared_ptr<RequestStream>> open_;  // by sequence id, until it ends
    std::optional<std::string> failure_;
    std::atomic<bool> stopping_{false};
    std::thread run_;
};

}  // namespace distgpt
