#pragma once
#include <cstddef>
#include <filesystem>

namespace distgpt {

// A read-only memory map of a whole file. Pages are read from disk only when
// touched, so a stage that uses a few tensors of a large checkpoint costs only
// those tensors' pages.
class MappedFile {
public:
    explicit MappedFile(const std::filesystem::path& path);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const std::byte* data() const { return data_; }
    std::size_t size() const { return size_; }
    const std::filesystem::path& path() const { return path_; }

    // Returns the pages of [offset, offset + length) to the kernel: after a
    // tensor is copied out, its file pages no longer count in our RSS.
    void release(std::size_t offset, std::size_t length) const;

private:
    std::filesystem::path path_;
    const std::byte* data_ = nullptr;
    std::size_t size_ = 0;
};

}  // namespace distgpt
