#include "weights/safetensors_writer.h"

#include "util/error.h"

#include <nlohmann/json.hpp>

namespace distgpt {

std::size_t TensorHeader::nbytes() const {
    std::size_t n = dtype_size(dtype);
    for (int64_t d : shape) n *= static_cast<std::size_t>(d);
    return n;
}

SafetensorsWriter::SafetensorsWriter(std::filesystem::path path, std::vector<TensorHeader> tensors,
                                     const std::map<std::string, std::string>& metadata)
    : path_(std::move(path)), partial_(path_.string() + ".partial"), tensors_(std::move(tensors)) {
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    std::size_t offset = 0;
    for (const auto& t : tensors_) {
        header[t.name] = {{"dtype", std::string(dtype_name(t.dtype))}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.nbytes()}}};
        offset += t.nbytes();
    }
    std::string text = header.dump();
    while (text.size() % 8) text.push_back(' ');
    out_.open(partial_, std::ios::binary | std::ios::trunc);
    if (!out_) throw Error("cannot write " + partial_.string());
    const uint64_t len = text.size();
    char le[8];
    for (int i = 0; i < 8; ++i) le[i] = static_cast<char>((len >> (8 * i)) & 0xff);
    out_.write(le, 8);
    out_.write(text.data(), static_cast<std::streamsize>(text.size()));
}

SafetensorsWriter::~SafetensorsWriter() {
    if (!finished_) {
        out_.close();
        std::error_code ignored;
        std::filesystem::remove(partial_, ignored);
    }
}

void SafetensorsWriter::write(const void* data, std::size_t nbytes) {
    if (next_ >= tensors_.size()) throw Error(path_.string() + ": more tensors written than declared");
    const auto& t = tensors_[next_++];
    if (nbytes != t.nbytes())
        throw Error(path_.string() + ": tensor '" + t.name + "' declared " + std::to_string(t.nbytes()) + " bytes, got " +
                    std::to_string(nbytes));
    out_.write(static_cast<const char*>(data), static_cast<std::streamsize>(nbytes));
    if (!out_) throw Error("failed writing " + partial_.string() + " (disk full?)");
}

void SafetensorsWriter::finish() {
    if (next_ != tensors_.size())
        throw Error(path_.string() + ": " + std::to_string(tensors_.size() - next_) + " declared tensors were not written");
    out_.close();
    if (!out_) throw Error("failed writing " + partial_.string() + " (disk full?)");
    std::filesystem::rename(partial_, path_);
    finished_ = true;
}

void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
    std::vector<TensorHeader> headers;
    for (const auto& t : tensors) headers.push_back(t.header);
    SafetensorsWriter writer(path, std::move(headers), metadata);
    for (const auto& t : tensors) writer.write(t.data, t.header.nbytes());
    writer.finish();
}

}  // namespace distgpt
