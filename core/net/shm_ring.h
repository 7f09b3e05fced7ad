#pragma once
#include "proto/codec.h"
#include "util/error.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <sys/types.h>
#include <string>
#include <vector>

namespace distgpt::net {

struct ShmRingHeader;

// A one-way message channel between two processes on one machine: a ring of
// bytes in POSIX shared memory with one writer and one reader. Neither side
// makes a system call per message, which is what makes a decode hop between
// two workers on one machine cost microseconds instead of the ~100 µs of two
// ZeroMQ I/O threads waking each other (docs/performance.md).
//
// The reader creates the segment (mode 0600, never an existing name) and the
// writer opens it; a writer that cannot open it (another user, another
// /dev/shm namespace) uses ZeroMQ instead. A reader about to block says so
// (`set_reader_sleeping`); a writer that sees it after a write wakes the
// reader by another way (a ZeroMQ message), so a message never waits unseen.
class ShmRing {
public:
    static constexpr std::size_t kDefaultCapacity = std::size_t(2) << 20;

    // Reader side. Throws Error naming the segment when it cannot be made.
    static ShmRing create(const std::string& name, std::size_t capacity = kDefaultCapacity);
    // Writer side: nullopt when the segment is missing, not this user's alone,
    // or not a ring of this version.
    static std::optional<ShmRing> open(const std::string& name);

    ShmRing(ShmRing&& other) noexcept;
    ShmRing& operator=(ShmRing&& other) noexcept;
    ShmRing(const ShmRing&) = delete;
    ShmRing& operator=(const ShmRing&) = delete;
    ~ShmRing();

    // Writer: the whole message, in chunks when it is larger than a quarter
    // of the ring, waiting (yielding the CPU) while the reader makes room.
    // False when the reader has closed the ring: nothing was written, send it
    // another way. Throws Error when the reader makes no room for `patience`
    // or its process is gone.
    bool write(const proto::Parts& parts, std::chrono::milliseconds patience = std::chrono::seconds(30));
    // A faulty writer, for tests and the fuzzer: `bytes` as they are, at the
    // write position (wrapping), published. False when they do not fit now.
    bool write_raw(const void* bytes, std::size_t size);
    // Writer, after a write: the reader is blocked elsewhere and must be woken.
    bool reader_sleeping() const;

    // Reader: the next whole message, or nullopt when there is none (yet).
    // Throws Error when the writer left bytes that are not a message.
    std::optional<proto::Parts> try_read();
    bool empty() const;
    void set_reader_sleeping(bool sleeping);
    bool writer_attached() const;
    // Reader: no more messages are read here; the writer's next write
    // fails, so it sends by ZeroMQ. The reader's destructor does this too.
    void close();
    bool closed() const;

    // Removes the name; both mappings stay valid. The reader does this once
    // the writer is attached, so a killed process leaves nothing in /dev/shm.
    void unlink();

    std::size_t capacity() const { return capacity_; }

    // Removes this user's rings whose reader process is gone (killed before
    // its writer attached). Returns how many. Workers call it when they start.
    static int remove_orphans();

    struct RingFile {
        std::string name;  // "/distgpt-…"
        pid_t reader;      // the process that created it to read from it
    };
    // This user's rings in /dev/shm, with their readers.
    static std::vector<RingFile> list();
    const std::string& name() const { return name_; }

private:
    ShmRing(std::string name, void* base, std::size_t mapped, bool owner);
    void release();
    void wait_for_room(std::size_t bytes, std::chrono::steady_clock::time_point deadline);
    Error broken(const std::string& why) const;
    std::optional<proto::Parts> take(const unsigned char* chunk, uint32_t bytes, uint32_t flags, uint32_t total);

    std::string name_;
    ShmRingHeader* header_ = nullptr;
    unsigned char* data_ = nullptr;
    std::size_t capacity_ = 0, mapped_ = 0;
    bool owner_ = false, linked_ = false;
    std::vector<unsigned char> partial_;  // reader: a message still arriving in chunks
    std::size_t expected_ = 0;
    bool in_message_ = false;
};

// A stable name for the ring from `from` to `to` in one run: the same in
// every process that computes it.
std::string ring_name(const std::string& run, const std::string& from, const std::string& to);

}  // namespace distgpt::net
