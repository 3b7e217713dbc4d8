#include "minidl/data/tensor_dataset.h"

#include <algorithm>

namespace minidl::data {

TensorDataset::TensorDataset(Tensor inputs, Tensor targets, std::vector<std::string> class_names, std::string name)
    : class_names_(std::move(class_names)), name_(std::move(name)) {
  MINIDL_CHECK(inputs.defined() && targets.defined(), "TensorDataset: inputs and targets must be defined tensors");
  MINIDL_CHECK(inputs.dim() >= 1 && is_floating(inputs.dtype()), "TensorDataset: inputs must be a float tensor [N, ...], got ",
               inputs.str());
  MINIDL_CHECK(targets.dim() >= 1 && targets.size(0) == inputs.size(0), "TensorDataset: ", inputs.size(0),
               " inputs but targets ", targets.str(), " (expected ", inputs.size(0), " rows)");
  // Detached copies on the CPU: the data set must not hold an autograd graph or a GPU buffer.
  inputs_ = inputs.detach().to(Device::cpu());
  targets_ = targets.detach().to(Device::cpu());
  if (targets_.dtype() == DType::Int64) {
    MINIDL_CHECK(targets_.dim() == 1, "TensorDataset: int64 targets are class labels [N], got ", targets_.str());
    const auto labels = targets_.to_vector<std::int64_t>();
    const std::int64_t top = labels.empty() ? -1 : *std::max_element(labels.begin(), labels.end());
    for (std::size_t i = 0; i < labels.size(); ++i)
      MINIDL_CHECK(labels[i] >= 0, "TensorDataset: label ", labels[i], " of sample ", i, " is negative");
    if (class_names_.empty())
      for (std::int64_t k = 0; k <= top; ++k) class_names_.push_back(std::to_string(k));
    MINIDL_CHECK(top < static_cast<std::int64_t>(class_names_.size()), "TensorDataset: label ", top, " but only ",
                 class_names_.size(), " class names");
  } else {
    MINIDL_CHECK(is_floating(targets_.dtype()), "TensorDataset: targets must be int64 labels or floats, got ",
                 targets_.str());
    MINIDL_CHECK(class_names_.empty(), "TensorDataset: class names given for float targets");
  }
}

Sample TensorDataset::get(std::int64_t i) const {
  check_index(i);
  Sample s;
  const Shape row(inputs_.shape().begin() + 1, inputs_.shape().end());
  s.input = inputs_.narrow0(i, 1).reshape(row);  // a view: the loader copies it into the batch
  if (has_float_targets()) {
    const Shape trow(targets_.shape().begin() + 1, targets_.shape().end());
    s.target = targets_.narrow0(i, 1).reshape(trow);
  } else {
    s.label = targets_.data<std::int64_t>()[i];
  }
  return s;
}

std::int64_t TensorDataset::label(std::int64_t i) const {
  check_index(i);
  MINIDL_CHECK(!has_float_targets(), description(), ": float targets have no class labels (class-balanced "
               "sampling and stratified splits need int64 labels)");
  return targets_.data<std::int64_t>()[i];
}

Shape TensorDataset::sample_shape() const { return Shape(inputs_.shape().begin() + 1, inputs_.shape().end()); }

std::int64_t TensorDataset::height() const { return inputs_.dim() >= 3 ? inputs_.size(-2) : 1; }
std::int64_t TensorDataset::width() const { return inputs_.dim() >= 2 ? inputs_.size(-1) : 1; }
std::int64_t TensorDataset::channels() const { return inputs_.dim() >= 4 ? inputs_.size(-3) : 1; }

std::string TensorDataset::description() const {
  return detail::str(name_, " (", size(), " samples of ", dtype_name(inputs_.dtype()), shape_str(sample_shape()),
                     has_float_targets() ? ", float targets " + shape_str(Shape(targets_.shape().begin() + 1,
                                                                                 targets_.shape().end()))
                                         : ", " + std::to_string(class_names_.size()) + " classes",
                     ")");
}

}  // namespace minidl::data
