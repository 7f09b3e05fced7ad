#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include "model/random_model.h"

#include "util/error.h"
#include "util/fnv1a.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/ops/normal.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/zeros.h>

#include <cmath>

namespace distgpt {

namespace {

ModelConfig validated(ModelConfig config) {
    config.validate("random model");
    return config;
}

}  // namespace

struct RandomModelSource::Drawn {
    at::Tensor tensor;
};

RandomModelSource::RandomModelSource(ModelConfig config, uint64_t seed)
    : config_(validated(std::move(config))), layout_(config_), seed_(seed) {}

RandomModelSource::~RandomModelSource() = default;

bool RandomModelSource::contains(const std::string& name) const { return layout_.find(name) != nullptr; }

std::vector<std::string> RandomModelSource::names() const {
    std::vector<std::string> out;
    for (const auto& t : layout_.tensors()) out.push_back(t.name);
    return out;
}

std::string RandomModelSource::describe() const {
    return "random " + family_name(config_.family) + " (seed " + std::to_string(seed_) + ")";
}

TensorView RandomModelSource::header(const std::string& name) const {
    const CheckpointTensor* t = layout_.find(name);
    if (!t) throw Error(describe() + ": has no tensor '" + name + "'");
    TensorView view;
    view.name = name;
    view.shape = t->shape;
    view.nbytes = static_cast<std::size_t>(view.numel()) * 4;
    view.origin = describe();
    return view;
}

TensorView RandomModelSource::get(const std::string& name) const {
    TensorView view = header(name);
    const auto& shape = view.shape;

    std::lock_guard lock(mutex_);
    auto& slot = drawn_[name];
    if (!slot) {
        slot = std::make_unique<Drawn>();
        const auto options = at::TensorOptions().dtype(at::kFloat);
        const InitRule rule = init_rule(layout_.find(name)->role);
        switch (rule) {
            case InitRule::Ones: slot->tensor = at::ones(shape, options); break;
            case InitRule::Zeros: slot->tensor = at::zeros(shape, options); break;
            case InitRule::Normal:
            case InitRule::NormalResidual: {
                const double std = rule == InitRule::NormalResidual ? 0.02 / std::sqrt(2.0 * config_.n_layer) : 0.02;
                auto gen = at::make_generator<at::CPUGeneratorImpl>(fnv1a(name, kFnv1aOffset ^ seed_));
                slot->tensor = at::normal(0.0, std, shape, gen, options);
                break;
            }
        }
    }
    view.data = static_cast<const std::byte*>(slot->tensor.data_ptr());
    return view;
}

void RandomModelSource::release(const TensorView& view) const {
    std::lock_guard lock(mutex_);
    drawn_.erase(view.name);
}

}  // namespace distgpt
