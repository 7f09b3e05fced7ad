#pragma once
#include "engine/local_engine.h"

#include <cstdint>
#include <mutex>
#include <vector>

namespace distgpt {

// Sequences that join a run while it runs (serving), and the ones to end
// early. Front-end threads add and cancel; the run's thread takes them at
// its next step, woken by a file descriptor that is readable while
// anything waits. Ids are 0, 1, 2, … in the order sequences are added: the
// run's sequence ids.
class SequenceFeed {
public:
    // One sequence to generate. Its sampling seed is used as given (a
    // batch run's sequence i uses seed + i instead).
    struct Arrival {
        int64_t id = 0;
        std::vector<int> prompt;
        GenerateOptions options;
    };

    SequenceFeed();
    ~SequenceFeed();
    SequenceFeed(const SequenceFeed&) = delete;
    SequenceFeed& operator=(const SequenceFeed&) = delete;

    int64_t add(std::vector<int> prompt, const GenerateOptions& options);  // its id
    void cancel(int64_t id);                                               // a sequence added before; it ends as Stopped, its slot freed

    // The run's side: everything added or cancelled since the last take.
    std::vector<Arrival> take_arrivals();
    std::vector<int64_t> take_cancellations();
    int wake_fd() const { return wake_fd_; }  // readable while something waits to be taken

private:
    void wake();
    void drain();

    std::mutex mutex_;
    int64_t next_id_ = 0;
    std::vector<Arrival> arrivals_;
    std::vector<int64_t> cancellations_;
    int wake_fd_ = -1;  // an eventfd
};

}  // namespace distgpt
