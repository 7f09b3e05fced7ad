#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include "model/tensor_map_source.h"

#include "util/error.h"

namespace distgpt {

TensorMapSource::TensorMapSource(std::map<std::string, at::Tensor> tensors, std::string description)
    : description_(std::move(description)) {
    for (auto& [name, t] : tensors) {
        if (t.scalar_type() != at::kFloat) throw Error(description_ + ": tensor '" + name + "' is not fp32");
        tensors_[name] = t.detach().contiguous();
    }
}

TensorView TensorMapSource::get(const std::string& name) const {
    auto it = tensors_.find(name);
    if (it == tensors_.end()) throw Error(description_ + ": has no tensor '" + name + "'");
    TensorView v;
    v.name = name;
    v.dtype = DType::F32;
    v.shape = it->second.sizes().vec();
    v.data = static_cast<const std::byte*>(it->second.data_ptr());
    v.nbytes = static_cast<std::size_t>(it->second.numel()) * 4;
    v.origin = description_;
    return v;
}

std::vector<std::string> TensorMapSource::names() const {
    std::vector<std::string> out;
    for (const auto& [name, t] : tensors_) out.push_back(name);
    return out;
}

}  // namespace distgpt
