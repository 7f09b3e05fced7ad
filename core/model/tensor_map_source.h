#pragma once
#include "weights/tensor_source.h"

#include <ATen/core/Tensor.h>

#include <map>

namespace distgpt {

// Weights held as fp32 tensors in memory under their checkpoint names (a
// model being trained): they save and load like any checkpoint.
class TensorMapSource : public TensorSource {
public:
    explicit TensorMapSource(std::map<std::string, at::Tensor> tensors, std::string description = "tensors in memory");

    bool contains(const std::string& name) const override { return tensors_.count(name) > 0; }
    TensorView get(const std::string& name) const override;
    TensorView header(const std::string& name) const override { return get(name); }
    std::vector<std::string> names() const override;
    std::string describe() const override { return description_; }

private:
    std::map<std::string, at::Tensor> tensors_;  // contiguous fp32, detached
    std::string description_;
};

}  // namespace distgpt
