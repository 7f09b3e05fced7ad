#pragma once
#include "util/mapped_file.h"
#include "weights/tensor_source.h"

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace distgpt {

// One .safetensors file, memory-mapped. Opening it reads and checks only the
// header: every offset, shape and dtype is validated against the file size, so
// a truncated or lying file is refused with its name and the tensor at fault.
class SafetensorsFile {
public:
    explicit SafetensorsFile(const std::filesystem::path& path);

    const std::vector<TensorView>& tensors() const { return tensors_; }
    const TensorView* find(const std::string& name) const;
    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    const std::filesystem::path& path() const { return file_.path(); }
    void release(const TensorView& view) const;

private:
    MappedFile file_;
    std::size_t data_start_ = 0;
    std::vector<TensorView> tensors_;
    std::map<std::string, std::size_t> index_;
    std::map<std::string, std::string> metadata_;
};

// A checkpoint folder's weights: model.safetensors, or the shards listed by
// model.safetensors.index.json.
class SafetensorsCheckpoint : public TensorSource {
public:
    explicit SafetensorsCheckpoint(const std::filesystem::path& model_dir);

    bool contains(const std::string& name) const override;
    TensorView get(const std::string& name) const override;
    std::vector<std::string> names() const override;
    TensorView header(const std::string& name) const override { return get(name); }
    std::string describe() const override;
    void release(const TensorView& view) const override;

    std::size_t file_count() const { return files_.size(); }

private:
    std::filesystem::path dir_;
    std::vector<std::unique_ptr<SafetensorsFile>> files_;
    std::map<std::string, const SafetensorsFile*> owner_;
};

}  // namespace distgpt
