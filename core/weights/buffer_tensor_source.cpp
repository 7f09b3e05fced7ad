#include "weights/buffer_tensor_source.h"

#include "util/error.h"

#include <cstring>

namespace distgpt {

void BufferTensorSource::add_chunk(const std::string& name, DType dtype, const std::vector<int64_t>& shape, uint64_t offset, uint64_t total,
                                   const void* data, std::size_t size) {
    uint64_t numel = 1;
    for (int64_t d : shape) {
        if (d < 0 || (d > 0 && numel > (uint64_t(1) << 40) / static_cast<uint64_t>(d)))
            throw Error("weight chunk for '" + name + "': impossible shape");
        numel *= static_cast<uint64_t>(d);
    }
    // Floats, or a block format's codes (I8, U8) beside their F16 scales.
    const bool carried = is_weight_dtype(dtype) || dtype == DType::I8 || dtype == DType::U8;
    if (!carried || numel * dtype_size(dtype) != total)
        throw Error("weight chunk for '" + name + "': " + std::to_string(total) + " bytes do not match its dtype and shape");
    if (offset > total || size > total - offset) throw Error("weight chunk for '" + name + "' lies outside the tensor");
    auto& held = tensors_[name];
    if (held.data.empty()) {
        held.dtype = dtype;
        held.shape = shape;
        held.data.resize(total);
    } else if (held.dtype != dtype || held.shape != shape) {
        throw Error("weight chunks for '" + name + "' disagree on its dtype or shape");
    }
    std::memcpy(held.data.data() + offset, data, size);
    held.filled += size;
    bytes_ += size;
}

bool BufferTensorSource::contains(const std::string& name) const {
    auto it = tensors_.find(name);
    return it != tensors_.end() && it->second.filled == it->second.data.size();
}

TensorView BufferTensorSource::get(const std::string& name) const {
    auto it = tensors_.find(name);
    if (it == tensors_.end() || it->second.filled != it->second.data.size())
        throw Error(describe() + ": '" + name + "' was not (fully) received");
    TensorView v;
    v.name = name;
    v.dtype = it->second.dtype;
    v.shape = it->second.shape;
    v.data = it->second.data.data();
    v.nbytes = it->second.data.size();
    v.origin = describe();
    return v;
}

std::vector<std::string> BufferTensorSource::names() const {
    std::vector<std::string> out;
    for (const auto& [name, held] : tensors_) out.push_back(name);
    return out;
}

}  // namespace distgpt
