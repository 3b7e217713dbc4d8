#include "minidl/layers/linear.h"

#include "minidl/core/ops.h"
#include "minidl/layers/init.h"

namespace minidl {

Linear::Linear(std::int64_t in, std::int64_t out, bool has_bias, DType dtype) {
  MINIDL_CHECK(in > 0 && out > 0, "Linear: features must be positive, got in ", in, " out ", out);
  weight = register_parameter("weight", Tensor::empty({out, in}, dtype));
  init::default_weight_(weight);
  if (has_bias) {
    bias = register_parameter("bias", Tensor::empty({out}, dtype));
    init::default_bias_(bias, in);
  }
}

Tensor Linear::forward(const Tensor& x) { return linear(x, weight, bias); }

}  // namespace minidl
