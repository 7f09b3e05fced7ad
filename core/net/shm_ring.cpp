#include "net/shm_ring.h"

#include "util/error.h"
#include "util/fnv1a.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <utility>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <new>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace distgpt::net {

namespace {

constexpr uint64_t kMagic = 0x676e697270677464ULL;  // "dtgpring"
constexpr uint32_t kVersion = 2;
constexpr std::size_t kHeaderBytes = 4096;  // the data starts on its own page
constexpr uint32_t kWrap = 0xFFFFFFFFu;     // "the rest of the ring is empty; go on at 0"
// A record: [u32 record bytes][u32 flags][u32 chunk bytes][u32 message bytes],
// then the chunk, padded to 8.
constexpr std::size_t kRecordHeader = 16;
constexpr uint32_t kFirst = 1, kLast = 2;

static_assert(std::atomic<uint64_t>::is_always_lock_free && std::atomic<uint32_t>::is_always_lock_free,
              "atomics in shared memory must be lock-free to work across processes");

std::size_t round8(std::size_t n) { return (n + 7) & ~std::size_t(7); }

}  // namespace

// Each side's position on its own cache line: the writer and the reader never
// write the same line.
struct ShmRingHeader {
    uint64_t magic;
    uint32_t version;
    uint32_t reserved;
    uint64_t capacity;
    std::atomic<uint32_t> ready, attached, reader_sleeping, closed;
    int64_t reader_pid;
    alignas(64) std::atomic<uint64_t> write_pos;  // bytes ever written
    alignas(64) std::atomic<uint64_t> read_pos;   // bytes ever read
};
static_assert(sizeof(ShmRingHeader) <= kHeaderBytes);

ShmRing::ShmRing(std::string name, void* base, std::size_t mapped, bool owner)
    : name_(std::move(name)),
      header_(static_cast<ShmRingHeader*>(base)),
      data_(static_cast<unsigned char*>(base) + kHeaderBytes),
      capacity_(mapped - kHeaderBytes),
      mapped_(mapped),
      owner_(owner),
      linked_(owner) {}

ShmRing ShmRing::create(const std::string& name, std::size_t capacity) {
    capacity = (capacity + 63) & ~std::size_t(63);
    const int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0) throw Error("shared-memory ring " + name + ": cannot create it: " + std::strerror(errno));
    const std::size_t mapped = kHeaderBytes + capacity;
    void* base = MAP_FAILED;
    // MAP_POPULATE, here and in open(): a page touched for the first time in
    // the middle of a hop costs more than the rest of the hop.
    if (ftruncate(fd, static_cast<off_t>(mapped)) == 0)
        base = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
    const int err = errno;
    ::close(fd);
    if (base == MAP_FAILED) {
        shm_unlink(name.c_str());
        throw Error("shared-memory ring " + name + ": cannot map " + std::to_string(mapped) + " bytes: " + std::strerror(err));
    }
    auto* h = new (base) ShmRingHeader{};
    h->magic = kMagic;
    h->version = kVersion;
    h->capacity = capacity;
    h->reader_pid = getpid();
    h->ready.store(1, std::memory_order_release);
    return ShmRing(name, base, mapped, true);
}

std::optional<ShmRing> ShmRing::open(const std::string& name) {
    const int fd = shm_open(name.c_str(), O_RDWR, 0);
    if (fd < 0) return std::nullopt;
    struct stat st {};
    // Only a segment this user made and no one else can touch: another user's
    // segment under an expected name must not receive our activations.
    const bool ours =
        fstat(fd, &st) == 0 && st.st_uid == geteuid() && (st.st_mode & 077) == 0 && st.st_size > static_cast<off_t>(kHeaderBytes);
    void* base =
        ours ? mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0) : MAP_FAILED;
    ::close(fd);
    if (base == MAP_FAILED) return std::nullopt;
    auto* h = static_cast<ShmRingHeader*>(base);
    const auto mapped = static_cast<std::size_t>(st.st_size);
    if (h->ready.load(std::memory_order_acquire) != 1 || h->magic != kMagic || h->version != kVersion ||
        h->capacity + kHeaderBytes != mapped) {
        munmap(base, mapped);
        return std::nullopt;
    }
    h->attached.store(1, std::memory_order_release);
    return ShmRing(name, base, mapped, false);
}

ShmRing::ShmRing(ShmRing&& o) noexcept { *this = std::move(o); }

ShmRing& ShmRing::operator=(ShmRing&& o) noexcept {
    if (this != &o) {
        release();
        name_ = std::move(o.name_);
        header_ = std::exchange(o.header_, nullptr);
        data_ = std::exchange(o.data_, nullptr);
        capacity_ = o.capacity_;
        mapped_ = o.mapped_;
        owner_ = o.owner_;
        linked_ = std::exchange(o.linked_, false);
    }
    return *this;
}

ShmRing::~ShmRing() { release(); }

void ShmRing::release() {
    if (owner_ && header_) close();
    if (linked_) shm_unlink(name_.c_str());
    if (header_) munmap(header_, mapped_);
    header_ = nullptr;
    linked_ = false;
}

void ShmRing::unlink() {
    if (linked_) shm_unlink(name_.c_str());
    linked_ = false;
}

void ShmRing::wait_for_room(std::size_t bytes, std::chrono::steady_clock::time_point deadline) {
    for (int spins = 0;; ++spins) {
        const uint64_t w = header_->write_pos.load(std::memory_order_relaxed);
        const uint64_t r = header_->read_pos.load(std::memory_order_acquire);
        if (capacity_ - (w - r) >= bytes) return;
        if (closed()) throw Error("shared-memory ring " + name_ + ": its reader closed it in the middle of a message");
        if (spins % 1024 == 1023) {
            const auto pid = static_cast<pid_t>(header_->reader_pid);
            if (kill(pid, 0) != 0 && errno == ESRCH)
                throw Error("shared-memory ring " + name_ + ": its reader (process " + std::to_string(pid) + ") is gone");
            if (std::chrono::steady_clock::now() > deadline)
                throw Error("shared-memory ring " + name_ + ": its reader has made no room for a message; is that worker stuck?");
        }
        sched_yield();
    }
}

bool ShmRing::write(const proto::Parts& parts, std::chrono::milliseconds patience) {
    if (closed()) return false;
    if (parts.empty() || parts.size() > proto::kMaxFrames + 1)
        throw Error("shared-memory ring " + name_ + ": a message of " + std::to_string(parts.size()) + " parts");
    // The message as one stream of bytes: [u32 part count][u32 length per part][the parts' bytes].
    std::vector<uint32_t> prefix{static_cast<uint32_t>(parts.size())};
    std::size_t total = 4 + 4 * parts.size();
    for (const auto& p : parts) {
        prefix.push_back(static_cast<uint32_t>(p.size()));
        total += p.size();
    }
    if (total > static_cast<std::size_t>(proto::kMaxMessageBytes))
        throw Error("shared-memory ring " + name_ + ": a message of " + std::to_string(total) + " bytes is over the cap");
    auto copy_stream = [&](std::size_t from, std::size_t bytes, unsigned char* out) {
        std::size_t at = 0;  // start of the current piece in the stream
        auto piece = [&](const void* data, std::size_t size) {
            const std::size_t lo = std::max(from, at), hi = std::min(from + bytes, at + size);
            if (lo < hi) std::memcpy(out + (lo - from), static_cast<const unsigned char*>(data) + (lo - at), hi - lo);
            at += size;
        };
        piece(prefix.data(), 4 * prefix.size());
        for (const auto& p : parts) piece(p.data(), p.size());
    };
    const auto deadline = std::chrono::steady_clock::now() + patience;
    const std::size_t max_chunk = capacity_ / 4 - kRecordHeader;
    for (std::size_t sent = 0; sent < total;) {
        const std::size_t chunk = std::min(max_chunk, total - sent);
        const std::size_t need = round8(kRecordHeader + chunk);
        uint64_t w = header_->write_pos.load(std::memory_order_relaxed);
        std::size_t offset = w % capacity_;
        const std::size_t to_end = capacity_ - offset;
        wait_for_room(need <= to_end ? need : to_end + need, deadline);
        if (need > to_end) {
            std::memcpy(data_ + offset, &kWrap, 4);
            w += to_end;
            offset = 0;
        }
        unsigned char* out = data_ + offset;
        const uint32_t head[4] = {static_cast<uint32_t>(need), (sent == 0 ? kFirst : 0u) | (sent + chunk == total ? kLast : 0u),
                                  static_cast<uint32_t>(chunk), static_cast<uint32_t>(total)};
        std::memcpy(out, head, kRecordHeader);
        copy_stream(sent, chunk, out + kRecordHeader);
        // seq_cst: this store and the writer's later look at reader_sleeping pair
        // with the reader's store of reader_sleeping and its look at write_pos
        // (Dekker), so one of the two always sees the other.
        header_->write_pos.store(w + need, std::memory_order_seq_cst);
        sent += chunk;
    }
    return true;
}

bool ShmRing::write_raw(const void* bytes, std::size_t size) {
    const uint64_t w = header_->write_pos.load(std::memory_order_relaxed);
    if (capacity_ - (w - header_->read_pos.load(std::memory_order_acquire)) < size) return false;
    const auto* in = static_cast<const unsigned char*>(bytes);
    for (std::size_t i = 0; i < size; ++i) data_[(w + i) % capacity_] = in[i];
    header_->write_pos.store(w + size, std::memory_order_seq_cst);
    return true;
}

bool ShmRing::reader_sleeping() const { return header_->reader_sleeping.load(std::memory_order_seq_cst) != 0; }

bool ShmRing::empty() const {
    return header_->read_pos.load(std::memory_order_relaxed) == header_->write_pos.load(std::memory_order_seq_cst);
}

void ShmRing::set_reader_sleeping(bool sleeping) { header_->reader_sleeping.store(sleeping ? 1 : 0, std::memory_order_seq_cst); }

void ShmRing::close() { header_->closed.store(1, std::memory_order_release); }

bool ShmRing::closed() const { return header_->closed.load(std::memory_order_acquire) != 0; }

bool ShmRing::writer_attached() const { return header_->attached.load(std::memory_order_acquire) != 0; }

std::optional<proto::Parts> ShmRing::try_read() {
    uint64_t r = header_->read_pos.load(std::memory_order_relaxed);
    const uint64_t w = header_->write_pos.load(std::memory_order_seq_cst);
    if (w - r > capacity_) throw broken("it claims more bytes than it holds");
    while (r != w) {
        const std::size_t offset = r % capacity_;
        const unsigned char* in = data_ + offset;
        uint32_t head[4] = {};
        std::memcpy(head, in, 4);
        if (head[0] == kWrap) {
            if (capacity_ - offset > w - r) throw broken("a wrap-around past what was written");
            r += capacity_ - offset;
            header_->read_pos.store(r, std::memory_order_release);
            continue;
        }
        if (offset % 8 || capacity_ - offset < kRecordHeader) throw broken("a record that starts where none can");
        std::memcpy(head, in, kRecordHeader);  // copied once: the writer cannot change what was checked
        const auto [record, flags, bytes, total] = head;
        if (record < kRecordHeader || record % 8 || record > w - r || record > capacity_ - offset)
            throw broken("a record of " + std::to_string(record) + " bytes");
        if (bytes > record - kRecordHeader)
            throw broken("a chunk of " + std::to_string(bytes) + " bytes in a record of " + std::to_string(record));
        auto message = take(in + kRecordHeader, bytes, flags, total);
        r += record;
        header_->read_pos.store(r, std::memory_order_release);
        if (message) return message;
    }
    return std::nullopt;
}

Error ShmRing::broken(const std::string& why) const {
    return Error("shared-memory ring " + name_ + ": " + why + "; the writer broke the ring");
}

// One chunk of a message; the message once its last chunk is in.
std::optional<proto::Parts> ShmRing::take(const unsigned char* chunk, uint32_t bytes, uint32_t flags, uint32_t total) {
    if (flags & kFirst) {
        if (in_message_) throw broken("a message began before the last one ended");
        if (total < 8 || total > static_cast<uint64_t>(proto::kMaxMessageBytes))
            throw broken("a message of " + std::to_string(total) + " bytes");
        in_message_ = true;
        expected_ = total;
        partial_.clear();
    } else if (!in_message_) {
        throw broken("a chunk without the start of its message");
    }
    if (partial_.size() + bytes > expected_) throw broken("chunks longer than their message");
    const bool whole = (flags & kFirst) && (flags & kLast);
    if (!whole) partial_.insert(partial_.end(), chunk, chunk + bytes);
    if (!(flags & kLast)) return std::nullopt;
    in_message_ = false;
    const unsigned char* stream = whole ? chunk : partial_.data();
    const std::size_t size = whole ? bytes : partial_.size();
    if (size != expected_)
        throw broken("a message of " + std::to_string(size) + " bytes where " + std::to_string(expected_) + " were announced");
    uint32_t count = 0;
    std::memcpy(&count, stream, 4);
    if (count == 0 || count > proto::kMaxFrames + 1) throw broken("a message of " + std::to_string(count) + " parts");
    std::size_t at = 4 + 4 * std::size_t(count);
    if (at > size) throw broken("a message shorter than its part lengths");
    proto::Parts parts;
    for (uint32_t i = 0; i < count; ++i) {
        uint32_t length = 0;
        std::memcpy(&length, stream + 4 + 4 * i, 4);
        if (length > size - at) throw broken("a part of " + std::to_string(length) + " bytes past its message");
        parts.emplace_back(stream + at, length);
        at += length;
    }
    if (at != size) throw broken("parts that do not fill their message");
    return parts;
}

std::vector<ShmRing::RingFile> ShmRing::list() {
    std::vector<RingFile> rings;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/dev/shm", ec)) {
        const std::string file = entry.path().filename().string();
        if (!file.starts_with("distgpt-")) continue;
        const std::string name = "/" + file;
        const int fd = shm_open(name.c_str(), O_RDONLY, 0);
        if (fd < 0) continue;
        struct stat st {};
        void* base = MAP_FAILED;
        if (fstat(fd, &st) == 0 && st.st_uid == geteuid() && st.st_size >= static_cast<off_t>(kHeaderBytes))
            base = mmap(nullptr, kHeaderBytes, PROT_READ, MAP_SHARED, fd, 0);
        ::close(fd);
        if (base == MAP_FAILED) continue;
        const auto* h = static_cast<const ShmRingHeader*>(base);
        if (h->magic == kMagic) rings.push_back({name, static_cast<pid_t>(h->reader_pid)});
        munmap(base, kHeaderBytes);
    }
    return rings;
}

int ShmRing::remove_orphans() {
    int removed = 0;
    for (const auto& ring : list()) {
        const bool orphan = kill(ring.reader, 0) != 0 && errno == ESRCH;
        if (orphan && shm_unlink(ring.name.c_str()) == 0) ++removed;
    }
    return removed;
}

std::string ring_name(const std::string& run, const std::string& from, const std::string& to) {
    uint64_t h = kFnv1aOffset;
    for (const std::string* s : {&run, &from, &to}) h = fnv1a("\xFF", fnv1a(*s, h));  // 0xFF: no name contains it
    char text[40];
    std::snprintf(text, sizeof text, "/distgpt-%016llx", static_cast<unsigned long long>(h));
    return text;
}

}  // namespace distgpt::net
