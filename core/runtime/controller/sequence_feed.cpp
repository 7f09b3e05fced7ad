#include "runtime/controller/sequence_feed.h"

#include "util/error.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace distgpt {

SequenceFeed::SequenceFeed() : wake_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (wake_fd_ < 0) throw Error(std::string("cannot make an eventfd for the sequence feed: ") + std::strerror(errno));
}

SequenceFeed::~SequenceFeed() { ::close(wake_fd_); }

int64_t SequenceFeed::add(std::vector<int> prompt, const GenerateOptions& options) {
    std::lock_guard lock(mutex_);
    const int64_t id = next_id_++;
    arrivals_.push_back({id, std::move(prompt), options});
    wake();
    return id;
}

void SequenceFeed::cancel(int64_t id) {
    std::lock_guard lock(mutex_);
    cancellations_.push_back(id);
    wake();
}

std::vector<SequenceFeed::Arrival> SequenceFeed::take_arrivals() {
    std::lock_guard lock(mutex_);
    drain();
    return std::exchange(arrivals_, {});
}

std::vector<int64_t> SequenceFeed::take_cancellations() {
    std::lock_guard lock(mutex_);
    drain();
    return std::exchange(cancellations_, {});
}

// Under the mutex: the counter goes up with each add or cancel and back to
// zero when the run takes them.
void SequenceFeed::wake() {
    const uint64_t one = 1;
    [[maybe_unused]] const auto n = ::write(wake_fd_, &one, sizeof one);  // only fails when the counter is full: still readable
}

void SequenceFeed::drain() {
    uint64_t count = 0;
    [[maybe_unused]] const auto n = ::read(wake_fd_, &count, sizeof count);  // EAGAIN when nothing was added
}

}  // namespace distgpt
