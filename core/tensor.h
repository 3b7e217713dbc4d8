// Tensor: a shared handle to (storage, element offset, shape, dtype) plus the autograd state.
// Tensors are always contiguous (row-major, NCHW for images); reshape/flatten and slicing along
// the first dimension are views that share the storage. Copying a Tensor copies the handle, as
// in PyTorch; clone() copies the data.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "minidl/base/dtype.h"
#include "minidl/base/error.h"
#include "minidl/base/shape.h"
#include "minidl/core/device.h"
#include "minidl/core/storage.h"

namespace minidl {

class Node;
class Generator;
struct TensorImpl;

class Tensor {
 public:
  Tensor() = default;  // undefined: no storage, like a None in PyTorch
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ----- creation -----
  static Tensor empty(const Shape& shape, DType dtype = DType::Float32, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::Float32, Device device = Device::cpu());
  static Tensor ones(const Shape& shape, DType dtype = DType::Float32, Device device = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype = DType::Float32, Device device = Device::cpu());
  // Copies the values; shape defaults to [values.size()].
  template <typename T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape = {});
  static Tensor scalar(double value, DType dtype = DType::Float32, Device device = Device::cpu());
  // Standard normal / uniform [lo, hi) samples from gen (CPU generation, then moved to device).
  static Tensor randn(const Shape& shape, Generator& gen, DType dtype = DType::Float32, Device device = Device::cpu());
  static Tensor uniform(const Shape& shape, double lo, double hi, Generator& gen, DType dtype = DType::Float32,
                        Device device = Device::cpu());
  static Tensor empty_like(const Tensor& t) { return empty(t.shape(), t.dtype(), t.device()); }
  static Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype(), t.device()); }

  // ----- what it is -----
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  std::int64_t dim() const { return static_cast<std::int64_t>(shape().size()); }
  // Size of dimension d; negative d counts from the end.
  std::int64_t size(std::int64_t d) const;
  std::int64_t numel() const;
  DType dtype() const;
  Device device() const;
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype()); }
  std::string str() const;  // "float32[64, 1, 7, 7] on cpu"

  // ----- data -----
  void* raw_data() const;
  // Typed pointer; throws if T does not match dtype().
  template <typename T>
  T* data() const {
    check_dtype(dtype_v<T>, "data<T>()");
    return static_cast<T*>(raw_data());
  }
  // The values, copied to the host (any device).
  template <typename T>
  std::vector<T> to_vector() const;
  // The one value of a one-element tensor, as double (waits for the device).
  double item() const;

  // ----- views and copies -----
  // A view with another shape of the same numel; one dimension may be -1. Differentiable.
  Tensor reshape(const Shape& shape) const;
  // Rows [start, start+length) of the first dimension, as a view (not differentiable).
  Tensor narrow0(std::int64_t start, std::int64_t length) const;
  // Same data, no autograd history, requires_grad false.
  Tensor detach() const;
  // A new tensor with a copy of the data (no autograd history).
  Tensor clone() const;
  // The same values on another device / in another dtype (a copy unless it already is).
  Tensor to(Device device) const;
  Tensor to(DType dtype) const;
  // In place: copy src's values (same numel; any device, dtype converted).
  // (In-place ops are const, as in libtorch: a Tensor is a handle, and the data it points to
  // is what changes.)
  const Tensor& copy_(const Tensor& src) const;
  const Tensor& fill_(double value) const;
  const Tensor& zero_() const { return fill_(0.0); }
  // Makes this tensor (and every handle to it) use other's data, shape, dtype and device, like
  // PyTorch's `param.data = other`: how Module::to() moves parameters without replacing them.
  void set_data(const Tensor& other) const;

  // ----- autograd -----
  bool requires_grad() const;
  Tensor& requires_grad_(bool requires = true);
  // A leaf is a tensor that no recorded op produced (parameters, inputs).
  bool is_leaf() const;
  // The accumulated gradient (undefined until a backward pass writes it).
  Tensor grad() const;
  void set_grad(const Tensor& grad) const;
  const std::shared_ptr<Node>& grad_fn() const;
  // Backpropagates from this tensor. grad_output defaults to ones for a one-element tensor.
  void backward(const Tensor& grad_output = Tensor()) const;
  // For a leaf: fn(*this) is called during each backward pass once this tensor's gradient of
  // that pass is final (every contribution accumulated into grad()), while the rest of the graph
  // may still be running; PyTorch's register_post_accumulate_grad_hook. Data-parallel training
  // starts reducing gradients from here. Returns an id for remove_post_accumulate_grad_hook.
  int register_post_accumulate_grad_hook(std::function<void(const Tensor&)> fn) const;
  void remove_post_accumulate_grad_hook(int id) const;
  bool has_post_accumulate_grad_hooks() const;
  void run_post_accumulate_grad_hooks() const;  // called by the autograd engine

  // Identity of the underlying handle (two Tensors that are the same tensor).
  const TensorImpl* impl() const { return impl_.get(); }
  bool is_same(const Tensor& o) const { return impl_ == o.impl_; }

  // Internal: for ops that create outputs with a history.
  void set_grad_fn(std::shared_ptr<Node> fn) const;

 private:
  void check_defined(const char* what) const;
  void check_dtype(DType expected, const char* what) const;
  std::shared_ptr<TensorImpl> impl_;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  std::int64_t offset = 0;  // in elements
  Shape shape;
  std::int64_t numel = 0;
  DType dtype = DType::Float32;
  bool requires_grad = false;
  Tensor grad;
  std::shared_ptr<Node> grad_fn;
  std::vector<std::pair<int, std::function<void(const Tensor&)>>> post_accumulate_grad_hooks;
  int next_hook_id = 0;
};

template <typename T>
Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& shape) {
  Shape s = shape.empty() ? Shape{static_cast<std::int64_t>(values.size())} : shape;
  MINIDL_CHECK(numel_of(s) == static_cast<std::int64_t>(values.size()), "Tensor::from_vector: ", values.size(),
               " values do not fill shape ", shape_str(s));
  Tensor t = empty(s, dtype_v<T>);
  std::copy(values.begin(), values.end(), t.data<T>());
  return t;
}

}  // namespace minidl
