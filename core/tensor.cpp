#include "minidl/core/tensor.h"

#include <algorithm>
#include <cstring>
#include <sstream>

#include "minidl/core/autograd.h"
#include "minidl/core/ops.h"
#include "minidl/core/ops/copy.h"
#include "minidl/core/rng.h"

namespace minidl {

namespace {

void check_shape(const Shape& shape, const char* what) {
  for (auto d : shape)
    MINIDL_CHECK(d >= 0, what, ": negative dimension in shape ", shape_str(shape));
}

template <typename F>
void dispatch_all(DType t, F&& f) {
  switch (t) {
    case DType::Float32: f(float{}); break;
    case DType::Float64: f(double{}); break;
    case DType::Int64: f(std::int64_t{}); break;
  }
}

}  // namespace

// ----- creation -----

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  check_shape(shape, "Tensor::empty");
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  impl->numel = numel_of(shape);
  impl->dtype = dtype;
  impl->storage = std::make_shared<Storage>(static_cast<std::size_t>(impl->numel) * dtype_size(dtype), device);
  return Tensor(std::move(impl));
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0.0, dtype, device); }
Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}

Tensor Tensor::scalar(double value, DType dtype, Device device) { return full({}, value, dtype, device); }

Tensor Tensor::randn(const Shape& shape, Generator& gen, DType dtype, Device device) {
  Tensor t = empty(shape, dtype);
  dispatch_all(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = t.data<T>();
    for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(gen.normal());
  });
  return device.is_cpu() ? t : t.to(device);
}

Tensor Tensor::uniform(const Shape& shape, double lo, double hi, Generator& gen, DType dtype, Device device) {
  Tensor t = empty(shape, dtype);
  dispatch_all(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = t.data<T>();
    for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(gen.uniform(lo, hi));
  });
  return device.is_cpu() ? t : t.to(device);
}

// ----- what it is -----

void Tensor::check_defined(const char* what) const {
  MINIDL_CHECK(impl_ != nullptr, what, ": the tensor is undefined");
}

void Tensor::check_dtype(DType expected, const char* what) const {
  check_defined(what);
  MINIDL_CHECK(impl_->dtype == expected, what, ": tensor is ", dtype_name(impl_->dtype), ", expected ",
               dtype_name(expected));
}

const Shape& Tensor::shape() const {
  check_defined("shape()");
  return impl_->shape;
}

std::int64_t Tensor::size(std::int64_t d) const {
  const std::int64_t n = dim();
  MINIDL_CHECK(d >= -n && d < n, "size(", d, "): dimension out of range for shape ", shape_str(shape()));
  return shape()[static_cast<std::size_t>(d < 0 ? d + n : d)];
}

std::int64_t Tensor::numel() const {
  check_defined("numel()");
  return impl_->numel;
}

DType Tensor::dtype() const {
  check_defined("dtype()");
  return impl_->dtype;
}

Device Tensor::device() const {
  check_defined("device()");
  return impl_->storage->device();
}

std::string Tensor::str() const {
  if (!impl_) return "undefined tensor";
  return detail::str(dtype_name(dtype()), shape_str(shape()), " on ", device().str());
}

// ----- data -----

void* Tensor::raw_data() const {
  check_defined("data()");
  return static_cast<char*>(impl_->storage->data()) + impl_->offset * static_cast<std::int64_t>(dtype_size(impl_->dtype));
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  check_dtype(dtype_v<T>, "to_vector<T>()");
  std::vector<T> v(static_cast<std::size_t>(numel()));
  ops_detail::read_to_host(v.data(), *this, nbytes());
  return v;
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<std::int64_t> Tensor::to_vector<std::int64_t>() const;

double Tensor::item() const {
  MINIDL_CHECK(defined() && numel() == 1, "item(): expected a one-element tensor, got ", str());
  double v = 0;
  dispatch_all(dtype(), [&](auto tag) {
    using T = decltype(tag);
    T x;
    ops_detail::read_to_host(&x, *this, sizeof(T));
    v = static_cast<double>(x);
  });
  return v;
}

// ----- views and copies -----

namespace {
// The backward of a reshape: the same values in the input's shape.
class ReshapeBackward : public Node {
 public:
  const char* name() const override { return "ReshapeBackward"; }
  void backward(const Tensor& gout, std::vector<GradSlot>& gin) override {
    if (!gin[0].needed) return;
    Tensor g = gout.reshape(gin[0].grad.shape());
    if (gin[0].accumulate) add_(gin[0].grad, g);
    else gin[0].grad.copy_(g);
  }
};
}  // namespace

Tensor Tensor::reshape(const Shape& new_shape) const {
  check_defined("reshape");
  Shape s = new_shape;
  std::int64_t known = 1;
  int infer = -1;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      MINIDL_CHECK(infer < 0, "reshape: more than one -1 in ", shape_str(new_shape));
      infer = static_cast<int>(i);
    } else {
      MINIDL_CHECK(s[i] >= 0, "reshape: negative dimension in ", shape_str(new_shape));
      known *= s[i];
    }
  }
  if (infer >= 0) {
    MINIDL_CHECK(known > 0 && numel() % known == 0, "reshape: cannot view ", shape_str(shape()), " as ",
                 shape_str(new_shape));
    s[static_cast<std::size_t>(infer)] = numel() / known;
  }
  MINIDL_CHECK(numel_of(s) == numel(), "reshape: cannot view ", shape_str(shape()), " (", numel(),
               " elements) as ", shape_str(new_shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->offset = impl_->offset;
  impl->shape = s;
  impl->numel = impl_->numel;
  impl->dtype = impl_->dtype;
  Tensor out(std::move(impl));
  return record(out, std::make_shared<ReshapeBackward>(), {*this});
}

Tensor Tensor::narrow0(std::int64_t start, std::int64_t length) const {
  MINIDL_CHECK(dim() >= 1 && start >= 0 && length >= 0 && start + length <= shape()[0], "narrow0(", start, ", ",
               length, "): out of range for shape ", shape_str(shape()));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->shape = impl_->shape;
  impl->shape[0] = length;
  impl->numel = numel_of(impl->shape);
  impl->offset = impl_->offset + start * (shape()[0] ? impl_->numel / shape()[0] : 0);
  impl->dtype = impl_->dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::detach() const {
  check_defined("detach");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->offset = impl_->offset;
  impl->shape = impl_->shape;
  impl->numel = impl_->numel;
  impl->dtype = impl_->dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape(), dtype(), device());
  ops_detail::copy_bytes(t.raw_data(), t.device(), raw_data(), device(), nbytes());
  return t;
}

Tensor Tensor::to(Device device) const {
  if (device == this->device()) return *this;
  Tensor t = empty(shape(), dtype(), device);
  ops_detail::copy_bytes(t.raw_data(), device, raw_data(), this->device(), nbytes());
  return t;
}

Tensor Tensor::to(DType dtype) const {
  if (dtype == this->dtype()) return *this;
  Tensor t = empty(shape(), dtype, device());
  t.copy_(*this);
  return t;
}

const Tensor& Tensor::copy_(const Tensor& src) const {
  check_defined("copy_");
  MINIDL_CHECK(src.defined() && src.numel() == numel(), "copy_: cannot copy ", src.str(), " into ", str());
  if (src.dtype() == dtype()) {
    ops_detail::copy_bytes(raw_data(), device(), src.raw_data(), src.device(), nbytes());
    return *this;
  }
  ops_detail::convert(src, *this);
  return *this;
}

const Tensor& Tensor::fill_(double value) const {
  check_defined("fill_");
  ops_detail::fill(*this, value);
  return *this;
}

void Tensor::set_data(const Tensor& other) const {
  check_defined("set_data");
  MINIDL_CHECK(other.defined(), "set_data: the new data is undefined");
  impl_->storage = other.impl_->storage;
  impl_->offset = other.impl_->offset;
  impl_->shape = other.impl_->shape;
  impl_->numel = other.impl_->numel;
  impl_->dtype = other.impl_->dtype;
}

// ----- autograd -----

bool Tensor::requires_grad() const {
  check_defined("requires_grad()");
  return impl_->requires_grad || impl_->grad_fn != nullptr;
}

Tensor& Tensor::requires_grad_(bool requires) {
  check_defined("requires_grad_()");
  MINIDL_CHECK(!requires || is_floating(dtype()), "requires_grad_: only floating tensors can require grad, got ",
               str());
  MINIDL_CHECK(impl_->grad_fn == nullptr, "requires_grad_: only leaf tensors can change requires_grad; use detach()");
  impl_->requires_grad = requires;
  return *this;
}

bool Tensor::is_leaf() const {
  check_defined("is_leaf()");
  return impl_->grad_fn == nullptr;
}

Tensor Tensor::grad() const {
  check_defined("grad()");
  return impl_->grad;
}

void Tensor::set_grad(const Tensor& grad) const {
  check_defined("set_grad()");
  MINIDL_CHECK(!grad.defined() || grad.shape() == shape(), "set_grad: gradient ", grad.str(),
               " does not match the tensor ", str());
  impl_->grad = grad;
}

const std::shared_ptr<Node>& Tensor::grad_fn() const {
  check_defined("grad_fn()");
  return impl_->grad_fn;
}

void Tensor::set_grad_fn(std::shared_ptr<Node> fn) const {
  check_defined("set_grad_fn()");
  impl_->grad_fn = std::move(fn);
}

void Tensor::backward(const Tensor& grad_output) const { run_backward(*this, grad_output); }

int Tensor::register_post_accumulate_grad_hook(std::function<void(const Tensor&)> fn) const {
  check_defined("register_post_accumulate_grad_hook()");
  MINIDL_CHECK(is_leaf() && requires_grad(), "register_post_accumulate_grad_hook: ", str(),
               " is not a leaf that requires grad (only leaves accumulate a gradient)");
  const int id = impl_->next_hook_id++;
  impl_->post_accumulate_grad_hooks.emplace_back(id, std::move(fn));
  return id;
}

void Tensor::remove_post_accumulate_grad_hook(int id) const {
  check_defined("remove_post_accumulate_grad_hook()");
  auto& hooks = impl_->post_accumulate_grad_hooks;
  for (auto it = hooks.begin(); it != hooks.end(); ++it)
    if (it->first == id) {
      hooks.erase(it);
      return;
    }
}

bool Tensor::has_post_accumulate_grad_hooks() const {
  return impl_ && !impl_->post_accumulate_grad_hooks.empty();
}

void Tensor::run_post_accumulate_grad_hooks() const {
  // A copy: a hook may remove itself.
  const auto hooks = impl_->post_accumulate_grad_hooks;
  for (const auto& [id, fn] : hooks) fn(*this);
}

}  // namespace minidl
