// conv2d with groups and dilation against PyTorch itself: the op table checks the forward
// against loops written here from PyTorch's documentation and the gradients by finite
// differences; this asks torch.nn.functional.conv2d (tests/check_conv_torch.py) for the forward
// and all three gradients, in float64, on the same inputs.
#include <catch2/catch.hpp>

#include <sstream>

#include "minidl/core/ops.h"
#include "minidl/core/rng.h"
#include "minidl/core/safetensors.h"
#include "support.h"

using namespace minidl;

namespace {

struct Case {
  const char* name;
  Shape x, w;
  Conv2dOptions opt;
};

}  // namespace

TEST_CASE("conv2d: groups and dilation against PyTorch, forward and gradients", "[ops][interop]") {
  if (test::no_torch()) return;
  const std::vector<Case> cases = {
      {"depthwise", {2, 4, 7, 6}, {4, 1, 3, 3}, {{1, 1}, {1, 1}, {1, 1}, 4}},
      {"depthwise_k2c_s2", {2, 3, 9, 8}, {6, 1, 3, 3}, {{2, 2}, {1, 1}, {1, 1}, 3}},
      {"groups2", {2, 6, 6, 7}, {4, 3, 2, 3}, {{1, 1}, {0, 1}, {1, 1}, 2}},
      {"dilation2_s2_p2", {2, 3, 11, 10}, {5, 3, 3, 3}, {{2, 2}, {2, 2}, {2, 2}, 1}},
      {"groups3_dilation23", {1, 6, 12, 11}, {9, 2, 3, 2}, {{1, 2}, {2, 1}, {2, 3}, 3}},
  };
  Generator gen(2024);
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> meta;
  std::string names;
  for (const Case& c : cases) {
    const std::string n = c.name;
    Tensor x = Tensor::randn(c.x, gen, DType::Float64).requires_grad_();
    Tensor w = Tensor::randn(c.w, gen, DType::Float64).requires_grad_();
    Tensor b = Tensor::randn({c.w[0]}, gen, DType::Float64).requires_grad_();
    Tensor y = conv2d(x, w, b, c.opt);
    Tensor dy = Tensor::randn(y.shape(), gen, DType::Float64);
    y.backward(dy);
    for (const auto& [what, t] : std::map<std::string, Tensor>{{"x", x.detach()}, {"w", w.detach()}, {"b", b.detach()},
                                                                 {"dy", dy}, {"y", y.detach()}, {"dx", x.grad()},
                                                                 {"dw", w.grad()}, {"db", b.grad()}})
      tensors[n + "." + what] = t;
    std::ostringstream o;
    o << c.opt.stride[0] << "," << c.opt.stride[1] << "," << c.opt.padding[0] << "," << c.opt.padding[1] << ","
      << c.opt.dilation[0] << "," << c.opt.dilation[1] << "," << c.opt.groups;
    meta[n + ".options"] = o.str();
    names += (names.empty() ? "" : ",") + n;
  }
  meta["cases"] = names;
  test::TempDir dir("conv_torch");
  save_safetensors(dir / "conv.safetensors", tensors, meta);
  const std::string cmd = "'" + test::torch_python() + "' " + std::string(MINIDL_TEST_DATA_DIR) +
                          "/../check_conv_torch.py " + (dir / "conv.safetensors");
  std::string out;
  const int code = test::run_command(cmd, &out);
  std::printf("%s", out.c_str());
  INFO(cmd << "\n" << out);
  CHECK(code == 0);
  for (const Case& c : cases) CHECK(out.find(std::string(c.name) + ": largest error") != std::string::npos);
}
