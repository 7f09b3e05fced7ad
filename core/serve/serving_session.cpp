#include "serve/serving_session.h"

#include "util/error.h"

#include <algorithm>

namespace distgpt {

RequestStream::News RequestStream::wait(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout, [this] { return !tokens_.empty() || finish_.has_value(); });
    News news;
    news.tokens = std::exchange(tokens_, {});
    news.finish = finish_;
    return news;
}

void RequestStream::cancel() {
    {
        std::lock_guard lock(mutex_);
        if (cancelled_ || finish_) return;
        cancelled_ = true;
    }
    feed_.cancel(id_);
}

void ServingSession::check_limits(int max_in_flight, int queue, int micro_batch) {
    if (max_in_flight < 1) throw Error("--max-in-flight must be 1 or more, not " + std::to_string(max_in_flight));
    if (queue < 0) throw Error("--queue must be 0 or more, not " + std::to_string(queue));
    if (micro_batch < 1) throw Error("--micro-batch must be 1 or more, not " + std::to_string(micro_batch));
}

std::pair<int, int> ServingSession::running_and_waiting() const {
    const int open = static_cast<int>(open_.size());
    return {std::min(open, max_in_flight_), std::max(0, open - max_in_flight_)};
}

ServingSession::ServingSession(Cluster& cluster, int max_in_flight, int queue, int micro_batch, ServeMetrics* metrics,
                               ServingObservers observers)
    : cluster_(cluster),
      max_in_flight_(max_in_flight),
      queue_(queue),
      micro_batch_(micro_batch),
      metrics_(metrics),
      observers_(std::move(observers)) {
    check_limits(max_in_flight, queue, micro_batch);
    run_ = std::thread([this] { serve(); });
}

ServingSession::~ServingSession() {
    stopping_ = true;
    run_.join();
}

void ServingSession::serve() {
    RunRequest request;
    request.feed = &feed_;
    request.in_flight = max_in_flight_;
    request.micro_batch = micro_batch_;
    request.on_token = [this](const TokenMark& t) { on_token(t); };
    request.on_finish = [this](int64_t sequence, FinishReason reason) { on_finish(sequence, reason); };
    request.on_spans = [this](const std::vector<TraceSpan>& spans) {
        if (metrics_) metrics_->spans(spans);
        if (observers_.on_spans) observers_.on_spans(spans);
    };
    request.should_stop = [this] { return stopping_.load(); };
    std::string error;
    try {
        error = cluster_.run(request).error;
    } catch (const std::exception& e) {
        error = e.what();
    }
    std::lock_guard lock(mutex_);
    if (!stopping_) failure_ = error.empty() ? std::string("the serving run ended") : error;
    for (auto& [id, stream] : open_) {  // none should be left: the run ends each; in case
        std::lock_guard s(stream->mutex_);
        if (!stream->finish_) stream->finish_ = FinishReason::Interrupted;
        stream->changed_.notify_all();
    }
    open_.clear();
}

std::shared_ptr<RequestStream> ServingSession::submit(std::vector<int> prompt, const GenerateOptions& options) {
    std::lock_guard lock(mutex_);
    if (failure_) throw Error("this server can no longer generate: " + *failure_);
    if (static_cast<int>(open_.size()) >= max_in_flight_ + queue_) return nullptr;
    const int prompt_tokens = static_cast<int>(prompt.size());
    // Under the lock, so the run's first token for it finds it registered,
    // and observers hear of it before its first token.
    const int64_t id = feed_.add(prompt, options);
    if (observers_.on_arrival) observers_.on_arrival(id, prompt);
    auto stream = std::shared_ptr<RequestStream>(new RequestStream(id, prompt_tokens, feed_));
    open_.emplace(id, stream);
    if (metrics_) {
        metrics_->prompt_tokens(prompt_tokens);
        const auto [running, waiting] = running_and_waiting();
        metrics_->sequences(running, waiting);
    }
    return stream;
}

void ServingSession::on_token(const TokenMark& t) {
    {
        std::lock_guard lock(mutex_);
        const auto it = open_.find(t.sequence);
        if (it != open_.end()) {
            RequestStream& s = *it->second;
            std::lock_guard sl(s.mutex_);
            const auto now = std::chrono::steady_clock::now();
            if (metrics_) {
                if (!s.any_token_)
                    metrics_->first_token(std::chrono::duration<double>(now - s.arrived_).count());
                else
                    metrics_->next_token(std::chrono::duration<double>(now - s.last_token_).count());
            }
            s.any_token_ = true;
            s.last_token_ = now;
            if (!s.cancelled_) {
                s.tokens_.push_back(t.token);
                s.changed_.notify_all();
            }
        }
    }
    if (observers_.on_token) observers_.on_token(t);
}

void ServingSession::on_finish(int64_t sequence, FinishReason reason) {
    {
        std::lock_guard lock(mutex_);
        const auto it = open_.find(sequence);
        if (it != open_.end()) {
            const std::shared_ptr<RequestStream> s = it->second;  // the request's thread may have let go of it
            open_.erase(it);
            std::lock_guard sl(s->mutex_);
            s->finish_ = reason;
            s->changed_.notify_all();
        }
        if (metrics_) {
            const auto [running, waiting] = running_and_waiting();
            metrics_->sequences(running, waiting);
        }
    }
    if (observers_.on_finish) observers_.on_finish(sequence, reason);
}

int ServingSession::running() const {
    std::lock_guard lock(mutex_);
    return running_and_waiting().first;
}

int ServingSession::waiting() const {
    std::lock_guard lock(mutex_);
    return running_and_waiting().second;
}

std::optional<std::string> ServingSession::failure() const {
    std::lock_guard lock(mutex_);
    return failure_;
}

}  // namespace distgpt
