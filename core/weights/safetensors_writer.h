#pragma once
#include "weights/dtype.h"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace distgpt {

struct TensorHeader {
    std::string name;
    DType dtype = DType::F32;
    std::vector<int64_t> shape;
    std::size_t nbytes() const;
};

// Writes a .safetensors file one tensor at a time, so a model larger than
// memory can be written: 8-byte header length, JSON header padded with spaces
// to 8 bytes, then the tensors back to back in header order. The file appears
// under its name only when finish() succeeds.
class SafetensorsWriter {
public:
    SafetensorsWriter(std::filesystem::path path, std::vector<TensorHeader> tensors,
                      const std::map<std::string, std::string>& metadata = {});
    ~SafetensorsWriter();
    void write(const void* data, std::size_t nbytes);  // the next tensor's bytes, little-endian
    void finish();

private:
    std::filesystem::path path_, partial_;
    std::vector<TensorHeader> tensors_;
    std::size_t next_ = 0;
    std::ofstream out_;
    bool finished_ = false;
};

struct TensorToWrite {
    TensorHeader header;
    const void* data = nullptr;
};

void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace distgpt
