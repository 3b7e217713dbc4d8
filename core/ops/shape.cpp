// Shape-only ops: views of the same storage.
#include "minidl/core/ops/dispatch.h"

namespace minidl {

Tensor flatten(const Tensor& x, std::int64_t start_dim, std::int64_t end_dim) {
  MINIDL_CHECK(x.defined(), "flatten: the input is undefined");
  const std::int64_t n = x.dim();
  if (n == 0) return x.reshape({1});
  const std::int64_t s = start_dim < 0 ? start_dim + n : start_dim;
  const std::int64_t e = end_dim < 0 ? end_dim + n : end_dim;
  MINIDL_CHECK(s >= 0 && e < n && s <= e, "flatten: dims ", start_dim, "..", end_dim, " out of range for shape ",
               shape_str(x.shape()));
  Shape out(x.shape().begin(), x.shape().begin() + s);
  std::int64_t merged = 1;
  for (std::int64_t d = s; d <= e; ++d) merged *= x.shape()[static_cast<std::size_t>(d)];
  out.push_back(merged);
  out.insert(out.end(), x.shape().begin() + e + 1, x.shape().end());
  return x.reshape(out);
}

}  // namespace minidl
