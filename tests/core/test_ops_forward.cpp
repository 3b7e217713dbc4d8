// Forward results of each op against small cases computed by hand, and the shape errors.
#include <catch2/catch.hpp>

#include <cmath>

#include "minidl/core/ops.h"

using namespace minidl;
using Catch::Matchers::Contains;

namespace {
std::vector<double> values(const Tensor& t) { return t.to(DType::Float64).to_vector<double>(); }
void check_close(const std::vector<double>& got, const std::vector<double>& want, double tol = 1e-6) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i);
    CHECK(got[i] == Approx(want[i]).margin(tol));
  }
}
}  // namespace

TEST_CASE("conv2d forward by hand", "[ops]") {
  // y[i][j] = x[i][j] - x[i+1][j+1] + 0.5 for w = [[1, 0], [0, -1]].
  Tensor x = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3});
  Tensor w = Tensor::from_vector<float>({1, 0, 0, -1}, {1, 1, 2, 2});
  Tensor b = Tensor::from_vector<float>({0.5});
  check_close(values(conv2d(x, w, b)), {-3.5, -3.5, -3.5, -3.5});
  Tensor padded = conv2d(x, w, b, {{1, 1}, {1, 1}});
  CHECK(padded.shape() == Shape{1, 1, 4, 4});
  CHECK(values(padded)[0] == Approx(-0.5));   // only -x[0][0] inside the window
  CHECK(values(padded)[15] == Approx(9.5));   // only x[2][2]
  Tensor strided = conv2d(x, w, b, {{2, 2}, {1, 1}});
  check_close(values(strided), {-0.5, -2.5, -6.5, -3.5});  // windows at rows/cols -1 and 1
  // Channels are summed: 3 * 1 + (-1) * 2 = 1.
  Tensor x2 = Tensor::from_vector<float>({1, 1, 1, 1, 2, 2, 2, 2}, {1, 2, 2, 2});
  Tensor w2 = Tensor::from_vector<float>({3, -1}, {1, 2, 1, 1});
  check_close(values(conv2d(x2, w2)), {1, 1, 1, 1});
  // groups = 2 keeps the channels apart: output 0 sees only channel 0 (3 * 1), output 1 only
  // channel 1 (-1 * 2). Dilation 2 with a 1x2 kernel [1, -1] on the 3x3 image above:
  // x[i][j] - x[i][j+2] = -2, one column of output per row.
  check_close(values(conv2d(x2, w2.reshape({2, 1, 1, 1}), Tensor(), {{1, 1}, {0, 0}, {1, 1}, 2})),
              {3, 3, 3, 3, -2, -2, -2, -2});
  Tensor dilated = conv2d(x, Tensor::from_vector<float>({1, -1}, {1, 1, 1, 2}), Tensor(), {{1, 1}, {0, 0}, {1, 2}});
  CHECK(dilated.shape() == Shape{1, 1, 3, 1});
  check_close(values(dilated), {-2, -2, -2});
}

TEST_CASE("conv2d shape errors name the op and both shapes", "[ops]") {
  Tensor x = Tensor::zeros({1, 3, 8, 8});
  Tensor w = Tensor::zeros({4, 2, 3, 3});
  CHECK_THROWS_WITH(conv2d(x, w), Contains("conv2d") && Contains("[1, 3, 8, 8]") && Contains("[4, 2, 3, 3]"));
  CHECK_THROWS_WITH(conv2d(Tensor::zeros({3, 8, 8}), w), Contains("conv2d") && Contains("[3, 8, 8]"));
  CHECK_THROWS_WITH(conv2d(Tensor::zeros({1, 2, 2, 2}), Tensor::zeros({1, 2, 5, 5})),
                    Contains("conv2d") && Contains("does not fit"));
  CHECK_THROWS_WITH(conv2d(x, Tensor::zeros({4, 3, 3, 3}), Tensor::zeros({3})), Contains("bias") && Contains("[3]"));
  CHECK_THROWS_WITH(conv2d(x, Tensor::zeros({4, 3, 3, 3}, DType::Float64)), Contains("mixed dtypes"));
  // groups: divides both channel counts, and the weight holds c / groups input channels.
  Conv2dOptions g3;
  g3.groups = 3;
  CHECK_THROWS_WITH(conv2d(x, Tensor::zeros({4, 1, 3, 3}), Tensor(), g3),
                    Contains("[4, 1, 3, 3]") && Contains("groups=3") && Contains("does not divide"));
  Conv2dOptions g2;
  g2.groups = 2;
  CHECK_THROWS_WITH(conv2d(Tensor::zeros({1, 4, 8, 8}), Tensor::zeros({6, 1, 3, 3}), Tensor(), g2),
                    Contains("[1, 4, 8, 8]") && Contains("[6, 1, 3, 3]") && Contains("groups=2") &&
                        Contains("expects 2"));
  CHECK_THROWS_WITH(conv2d(x, Tensor::zeros({4, 1, 3, 3}), Tensor(), g2),
                    Contains("[1, 3, 8, 8]") && Contains("groups=2") && Contains("does not divide"));
  Conv2dOptions g0;
  g0.groups = 0;
  CHECK_THROWS_WITH(conv2d(x, w, Tensor(), g0), Contains("groups must be positive"));
  // dilation: positive, and the dilated kernel must fit (3 taps 4 apart span 9 > 8).
  CHECK_THROWS_WITH(conv2d(x, Tensor::zeros({4, 3, 3, 3}), Tensor(), {{1, 1}, {0, 0}, {0, 1}}),
                    Contains("dilation must be positive"));
  CHECK_THROWS_WITH(conv2d(x, Tensor::zeros({4, 3, 3, 3}), Tensor(), {{1, 1}, {0, 0}, {4, 1}}),
                    Contains("does not fit") && Contains("dilation [4, 1]"));
}

TEST_CASE("batch_norm training statistics and running-statistics update", "[ops]") {
  // One channel, values {1, 2, 3, 6}: mean 3, biased variance 3.5, unbiased 14/3.
  Tensor x = Tensor::from_vector<double>({1, 2, 3, 6}, {2, 1, 1, 2});
  Tensor rm = Tensor::zeros({1}, DType::Float64), rv = Tensor::ones({1}, DType::Float64);
  Tensor gamma = Tensor::from_vector<double>({2}), beta = Tensor::from_vector<double>({1});
  Tensor y = batch_norm(x, rm, rv, gamma, beta, true, 0.1, 1e-5);
  const double s = std::sqrt(3.5 + 1e-5);
  check_close(values(y), {2 * -2 / s + 1, 2 * -1 / s + 1, 1, 2 * 3 / s + 1}, 1e-12);
  CHECK(rm.item() == Approx(0.3).epsilon(1e-12));
  CHECK(rv.item() == Approx(0.9 + 0.1 * 14.0 / 3.0).epsilon(1e-12));
  // Evaluation uses the running statistics and leaves them alone.
  Tensor e = batch_norm(x, rm, rv, gamma, beta, false, 0.1, 1e-5);
  const double rs = std::sqrt(rv.item() + 1e-5);
  CHECK(values(e)[0] == Approx(2 * (1 - 0.3) / rs + 1).epsilon(1e-12));
  CHECK(rm.item() == Approx(0.3).epsilon(1e-12));
  CHECK_THROWS_WITH(batch_norm(Tensor::zeros({1, 2, 1, 1}), Tensor(), Tensor(), Tensor(), Tensor(), true),
                    Contains("more than 1 value per channel"));
  CHECK_THROWS_WITH(batch_norm(x, rm, rv, Tensor::ones({2}, DType::Float64), beta, true),
                    Contains("batch_norm") && Contains("weight") && Contains("[2]"));
}

TEST_CASE("max_pool2d: windows, stride, padding never wins", "[ops]") {
  std::vector<float> v(16);
  for (int i = 0; i < 16; ++i) v[i] = static_cast<float>(i);
  Tensor x = Tensor::from_vector<float>(v, {1, 1, 4, 4});
  check_close(values(max_pool2d(x, {{2, 2}, {0, 0}, {0, 0}})), {5, 7, 13, 15});
  // All negative, 3x3 stride 2 padding 1: a padded cell must never be the maximum.
  for (auto& e : v) e = -e - 1;
  Tensor neg = Tensor::from_vector<float>(v, {1, 1, 4, 4});
  check_close(values(max_pool2d(neg, {{3, 3}, {2, 2}, {1, 1}})), {-1, -2, -5, -6});
  CHECK_THROWS_WITH(max_pool2d(x, {{3, 3}, {2, 2}, {2, 2}}), Contains("padding"));
}

TEST_CASE("adaptive_avg_pool2d uses PyTorch's overlapping windows", "[ops]") {
  Tensor x = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3});
  check_close(values(adaptive_avg_pool2d(x, {2, 2})), {3, 4, 6, 7});
  check_close(values(adaptive_avg_pool2d(x, {1, 1})), {5});
}

TEST_CASE("linear, relu, add, add_relu, mul, sum, mean by hand", "[ops]") {
  Tensor x = Tensor::from_vector<float>({1, 2}, {1, 2});
  Tensor w = Tensor::from_vector<float>({1, 1, 2, -1}, {2, 2});
  Tensor b = Tensor::from_vector<float>({0.5, 0});
  check_close(values(linear(x, w, b)), {3.5, 0});
  CHECK_THROWS_WITH(linear(x, Tensor::zeros({2, 3})), Contains("linear") && Contains("[1, 2]") && Contains("[2, 3]"));
  Tensor a = Tensor::from_vector<float>({-1, 2, -3});
  Tensor c = Tensor::from_vector<float>({2, -5, 1});
  check_close(values(relu(a)), {0, 2, 0});
  check_close(values(add(a, c)), {1, -3, -2});
  check_close(values(add_relu(a, c)), {1, 0, 0});
  check_close(values(mul(a, -2)), {2, -4, 6});
  CHECK(sum(a).item() == Approx(-2));
  CHECK(mean(a).item() == Approx(-2.0 / 3));
  CHECK(sum(a).shape().empty());
  CHECK_THROWS_WITH(add(a, Tensor::zeros({2})), Contains("add") && Contains("[3]") && Contains("[2]"));
}

TEST_CASE("log_softmax and cross_entropy by hand, PyTorch semantics", "[ops]") {
  Tensor logits = Tensor::from_vector<double>({1, 2, 3}, {1, 3});
  Tensor t2 = Tensor::from_vector<std::int64_t>({2});
  const double lse = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  check_close(values(log_softmax(logits)), {1 - lse, 2 - lse, 3 - lse}, 1e-12);
  CHECK(cross_entropy(logits, t2).item() == Approx(0.4076059644).epsilon(1e-9));
  // Label smoothing 0.1 over 3 classes: 0.9 * nll + (0.1 / 3) * sum_c -logp_c.
  CrossEntropyOptions smooth;
  smooth.label_smoothing = 0.1;
  const double expected = 0.9 * (lse - 3) + 0.1 / 3 * ((lse - 1) + (lse - 2) + (lse - 3));
  CHECK(cross_entropy(logits, t2, smooth).item() == Approx(expected).epsilon(1e-12));
  // Class weights [1, 3]: rows with -logp ln2 (target 0) and ln(4/3) (target 1) -> weighted mean.
  Tensor two = Tensor::from_vector<double>({0, 0, 0, std::log(3.0)}, {2, 2});
  Tensor t = Tensor::from_vector<std::int64_t>({0, 1});
  CrossEntropyOptions weighted;
  weighted.weight = Tensor::from_vector<double>({1, 3});
  CHECK(cross_entropy(two, t).item() == Approx((std::log(2.0) + std::log(4.0 / 3)) / 2).epsilon(1e-12));
  CHECK(cross_entropy(two, t, weighted).item() ==
        Approx((std::log(2.0) + 3 * std::log(4.0 / 3)) / 4).epsilon(1e-12));
  CHECK_THROWS_WITH(cross_entropy(two, Tensor::from_vector<std::int64_t>({0, 2})),
                    Contains("cross_entropy") && Contains("2"));
  CHECK_THROWS_WITH(cross_entropy(two, Tensor::from_vector<std::int64_t>({0})), Contains("[2]"));
  CHECK(argmax(two).to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 1});
}
