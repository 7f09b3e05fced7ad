#include "weights/safetensors.h"

#include "util/error.h"

#include <nlohmann/json.hpp>

#include <cstring>
#include <fstream>
#include <limits>

namespace distgpt {
namespace {

using nlohmann::json;

// The format caps the header at 100 MB; anything larger is not a safetensors file.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

uint64_t read_le64(const std::byte* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
    return v;
}

[[noreturn]] void fail(const std::filesystem::path& file, const std::string& what) { throw Error(file.string() + ": " + what); }

}  // namespace

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path) : file_(path) {
    const std::size_t size = file_.size();
    if (size < 8) fail(path, "file is " + std::to_string(size) + " bytes, too short for a safetensors header (truncated?)");
    const uint64_t header_len = read_le64(file_.data());
    if (header_len > kMaxHeaderBytes)
        fail(path, "header length " + std::to_string(header_len) + " is over the 100 MB limit: not a safetensors file, or corrupt");
    if (header_len > size - 8)
        fail(path, "header claims " + std::to_string(header_len) + " bytes but the file has " + std::to_string(size - 8) +
                       " after the length (truncated?)");
    data_start_ = 8 + header_len;
    const std::size_t data_size = size - data_start_;

    json header;
    try {
        auto begin = reinterpret_cast<const char*>(file_.data() + 8);
        header = json::parse(begin, begin + header_len);
    } catch (const json::exception& e) {
        fail(path, std::string("header is not valid JSON: ") + e.what());
    }
    if (!header.is_object()) fail(path, "header is not a JSON object");

    for (auto it = header.begin(); it != header.end(); ++it) {
        const std::string& name = it.key();
        const json& entry = it.value();
        if (name == "__metadata__") {
            if (entry.is_object())
                for (auto m = entry.begin(); m != entry.end(); ++m)
                    if (m.value().is_string()) metadata_[m.key()] = m.value().get<std::string>();
            continue;
        }
        const std::string where = "tensor '" + name + "'";
        if (!entry.is_object()) fail(path, where + ": entry is not an object");
        if (!entry.contains("dtype") || !entry["dtype"].is_string()) fail(path, where + ": missing dtype");
        const auto dtype_text = entry["dtype"].get<std::string>();
        const auto dtype = parse_safetensors_dtype(dtype_text);
        if (!dtype) fail(path, where + ": unknown dtype '" + dtype_text + "'");
        if (!entry.contains("shape") || !entry["shape"].is_array()) fail(path, where + ": missing shape");
        if (!entry.contains("data_offsets") || !entry["data_offsets"].is_array() || entry["data_offsets"].size() != 2)
            fail(path, where + ": data_offsets must be [begin, end]");

        TensorView view;
        view.name = name;
        view.dtype = dtype->dtype;
        view.origin = path.string();
        uint64_t numel = 1;
        for (const json& d : entry["shape"]) {
            if (!d.is_number_unsigned()) fail(path, where + ": shape has a non-integer or negative dimension");
            const uint64_t dim = d.get<uint64_t>();
            if (dim != 0 && numel > std::numeric_limits<uint64_t>::max() / 2 / dim) fail(path, where + ": shape overflows");
            numel *= dim;
            view.shape.push_back(static_cast<int64_t>(dim));
        }
        const json& offsets = entry["data_offsets"];
        if (!offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned())
            fail(path, where + ": data_offsets are not non-negative integers");
        const uint64_t begin = offsets[0].get<uint64_t>(), end = offsets[1].get<uint64_t>();
        if (begin > end || end > data_size)
            fail(path, where + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "] lie outside the " +
                           std::to_string(data_size) + " data bytes (truncated file?)");
        if (numel > std::numeric_limits<uint64_t>::max() / dtype->element_size || end - begin != numel * dtype->element_size)
            fail(path, where + ": shape " + view.shape_string() + " of " + dtype_text + " needs " +
                           std::to_string(numel * dtype->element_size) + " bytes but data_offsets give " + std::to_string(end - begin));
        view.data = file_.data() + data_start_ + begin;
        view.nbytes = end - begin;
        index_[name] = tensors_.size();
        tensors_.push_back(std::move(view));
    }
}

const TensorView* SafetensorsFile::find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors_[it->second];
}

void SafetensorsFile::release(const TensorView& view) const {
    file_.release(static_cast<std::size_t>(view.data - file_.data()), view.nbytes);
}

SafetensorsCheckpoint::SafetensorsCheckpoint(const std::filesystem::path& model_dir) : dir_(model_dir) {
    const auto single = model_dir / "model.safetensors";
    const auto index = model_dir / "model.safetensors.index.json";
    if (std::filesystem::exists(single)) {
        files_.push_back(std::make_unique<SafetensorsFile>(single));
    } else if (std::filesystem::exists(index)) {
        json j;
        try {
            std::ifstream in(index);
            j = json::parse(in);
        } catch (const json::exception& e) {
            throw Error(index.string() + ": not valid JSON: " + e.what());
        }
        if (!j.contains("weight_map") || !j["weight_map"].is_object()) throw Error(index.string() + ": has no weight_map object");
        std::map<std::string, const SafetensorsFile*> by_file;
        for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
            if (!it.value().is_string()) throw Error(index.string() + ": weight_map entry for '" + it.key() + "' is not a file name");
            const auto file = it.value().get<std::string>();
            if (file.find('/') != std::string::npos || file == "..")
                throw Error(index.string() + ": shard name '" + file + "' must be a plain file name in the model folder");
            if (!by_file.count(file)) {
                if (!std::filesystem::exists(model_dir / file))
                    throw Error(index.string() + ": shard " + file + " is listed but missing from " + model_dir.string());
                files_.push_back(std::make_unique<SafetensorsFile>(model_dir / file));
                by_file[file] = files_.back().get();
            }
            if (!by_file[file]->find(it.key()))
                throw Error(index.string() + ": lists tensor '" + it.key() + "' in " + file + ", which does not hold it");
            owner_[it.key()] = by_file[file];
        }
        return;
    } else {
        throw Error(model_dir.string() + ": no model.safetensors or model.safetensors.index.json in this folder");
    }
    for (const auto& t : files_.front()->tensors()) owner_[t.name] = files_.front().get();
}

bool SafetensorsCheckpoint::contains(const std::string& name) const { return owner_.count(name) > 0; }

TensorView SafetensorsCheckpoint::get(const std::string& name) const {
    auto it = owner_.find(name);
    if (it == owner_.end()) throw Error(describe() + ": has no tensor '" + name + "'");
    return *it->second->find(name);
}

std::vector<std::string> SafetensorsCheckpoint::names() const {
    std::vector<std::string> out;
    for (const auto& [name, file] : owner_) out.push_back(name);
    return out;
}

std::string SafetensorsCheckpoint::describe() const {
    if (files_.size() == 1) return files_.front()->path().string();
    return dir_.string() + " (" + std::to_string(files_.size()) + " safetensors shards)";
}

void SafetensorsCheckpoint::release(const TensorView& view) const {
    auto it = owner_.find(view.name);
    if (it != owner_.end()) it->second->release(view);
}

}  // namespace distgpt
