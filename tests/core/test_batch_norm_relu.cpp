// batch_norm_relu (core/ops.h): batch norm with the ReLU after it fused into its kernels. Its
// contract is "the same numbers as relu(batch_norm(...)), bit for bit", so that is the reference:
// forward, the running statistics, and all three gradients, in both modes and both float types.
// (The op table checks it against float64 arithmetic and finite differences, and on CUDA.)
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <vector>

#include "minidl/core/autograd.h"
#include "minidl/core/ops.h"
#include "minidl/core/rng.h"

using namespace minidl;

namespace {

struct Result {
  Tensor y, running_mean, running_var, dx, dweight, dbias;
};

// One forward and backward of relu(batch_norm) or batch_norm_relu on copies of the same inputs.
Result run(bool fused, bool training, DType dtype, const Tensor& x0, const Tensor& w0, const Tensor& b0,
           const Tensor& dy) {
  Tensor x = x0.to(dtype).detach().requires_grad_();
  Tensor w = w0.to(dtype).detach().requires_grad_(), b = b0.to(dtype).detach().requires_grad_();
  Generator gen(5);
  const std::int64_t c = x0.size(1);
  Tensor rm = Tensor::uniform({c}, -0.5, 0.5, gen).to(dtype), rv = Tensor::uniform({c}, 0.5, 2.0, gen).to(dtype);
  Tensor y = fused ? batch_norm_relu(x, rm, rv, w, b, training, 0.1, 1e-5)
                   : relu(batch_norm(x, rm, rv, w, b, training, 0.1, 1e-5));
  y.backward(dy.to(dtype));
  return {y.detach(), rm, rv, x.grad(), w.grad(), b.grad()};
}

bool bit_identical(const Tensor& a, const Tensor& b) {
  REQUIRE(a.dtype() == b.dtype());
  REQUIRE(a.numel() == b.numel());
  const std::size_t bytes = static_cast<std::size_t>(a.numel()) * (a.dtype() == DType::Float64 ? 8 : 4);
  return std::memcmp(a.raw_data(), b.raw_data(), bytes) == 0;
}

}  // namespace

TEST_CASE("batch_norm_relu is relu(batch_norm) bit for bit: output, running statistics and gradients",
          "[op][batch_norm]") {
  // 8 x 16 x 12 x 12: large enough for the kernels' parallel loops; half the outputs clamped.
  Generator gen(4);
  const Tensor x = Tensor::uniform({8, 16, 12, 12}, -2.0, 3.0, gen);
  const Tensor w = Tensor::uniform({16}, 0.5, 1.5, gen), b = Tensor::uniform({16}, -0.5, 0.5, gen);
  const Tensor dy = Tensor::uniform({8, 16, 12, 12}, -1.0, 1.0, gen);
  for (DType dtype : {DType::Float32, DType::Float64}) {
    for (bool training : {true, false}) {
      INFO((dtype == DType::Float32 ? "float32" : "float64") << (training ? ", training" : ", evaluation"));
      const Result ref = run(false, training, dtype, x, w, b, dy), got = run(true, training, dtype, x, w, b, dy);
      CHECK(bit_identical(got.y, ref.y));
      CHECK(bit_identical(got.running_mean, ref.running_mean));
      CHECK(bit_identical(got.running_var, ref.running_var));
      CHECK(bit_identical(got.dx, ref.dx));
      CHECK(bit_identical(got.dweight, ref.dweight));
      CHECK(bit_identical(got.dbias, ref.dbias));
      // The ReLU did clamp: a test where nothing is negative could not tell the two apart.
      const auto v = got.y.to(DType::Float64).to_vector<double>();
      CHECK(std::count(v.begin(), v.end(), 0.0) > static_cast<std::ptrdiff_t>(v.size() / 4));
    }
  }
}

TEST_CASE("batch_norm_relu names itself in errors", "[op][batch_norm]") {
  const Tensor x = Tensor::zeros({2, 3, 2, 2});
  CHECK_THROWS_WITH(batch_norm_relu(x, Tensor(), Tensor(), Tensor::ones({4}), Tensor(), true),
                    Catch::Matchers::Contains("batch_norm_relu: weight [4] does not match input [2, 3, 2, 2]"));
  CHECK_THROWS_WITH(batch_norm_relu(Tensor::zeros({1, 3, 1, 1}), Tensor(), Tensor(), Tensor(), Tensor(), true),
                    Catch::Matchers::Contains("batch_norm_relu: expected more than 1 value per channel"));
}
