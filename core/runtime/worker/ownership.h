#pragma once
#include "util/duration_text.h"
#include "util/error.h"

#include <chrono>
#include <ctime>
#include <string>

namespace distgpt {

// Which controller a worker serves: the first to say hello while it is free,
// from then until that controller stops its run or falls silent. Any other
// controller is turned away with who holds the worker and since when; it
// never takes the worker over, whatever the run is doing (greeting, loading,
// streaming weights, generating).
class Ownership {
public:
    using Clock = std::chrono::system_clock;

    bool free() const { return identity_.empty(); }
    bool is(const std::string& identity) const { return !identity_.empty() && identity == identity_; }
    const std::string& identity() const { return identity_; }
    const std::string& name() const { return name_; }

    // Takes the worker for a controller (again, for its owner); throws Error
    // saying who holds it when another controller does.
    void claim(const std::string& identity, const std::string& name, Clock::time_point now = Clock::now()) {
        if (!free() && !is(identity)) throw Error(busy(now));
        if (!is(identity)) since_ = now;
        identity_ = identity;
        name_ = name;
    }
    void release() {
        identity_.clear();
        name_.clear();
    }

    // "busy, owned by distgpt-cli since 10:52:03 (40 s ago); ..."
    std::string busy(Clock::time_point now = Clock::now()) const {
        const std::time_t t = Clock::to_time_t(since_);
        std::tm local{};
        localtime_r(&t, &local);
        char clock[16];
        std::strftime(clock, sizeof clock, "%H:%M:%S", &local);
        const double ago = std::chrono::duration<double>(now - since_).count();
        return "busy, owned by " + name_ + " since " + clock + " (" + seconds_text(ago < 0 ? 0 : ago) +
               " ago); try again when its run ends, or stop that run first";
    }

private:
    std::string identity_;  // the owner's ZeroMQ routing id; empty: free
    std::string name_;      // as its hello gave it
    Clock::time_point since_{};
};

}  // namespace distgpt
