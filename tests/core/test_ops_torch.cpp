// The torch-named ops of issue 24: what their op table rows (tests/core/op_rows_*.cpp: float64
// gradient checks, forward against reference loops, CUDA against the CPU) cannot say: values at
// the points the table keeps away from (0, ties, NaN, huge magnitudes), dtype and shape
// results, statistics of dropout's mask, and the errors with their messages.
#include <cmath>
#include <tuple>

#include <catch2/catch.hpp>

#include "minidl/core/ops.h"
#include "minidl/core/rng.h"
#include "minidl/layers/activation.h"
#include "minidl/layers/simple.h"

using namespace minidl;

namespace {

std::vector<double> values(const Tensor& t) { return t.to(DType::Float64).to_vector<double>(); }

}  // namespace

// ----- one input -----
// At 0 and at the clamp bounds, where the table draws no values.
TEST_CASE("ops: one-input maps against the formulas", "[ops]") {
  const std::vector<double> xs = {-3.0, -0.5, 0.0, 0.25, 2.0};
  const Tensor x = Tensor::from_vector(xs);
  const auto close = [&](const Tensor& y, double (*f)(double), const char* name) {
    INFO(name);
    const auto v = values(y);
    for (std::size_t i = 0; i < xs.size(); ++i) CHECK(v[i] == Approx(f(xs[i])).margin(1e-15));
  };
  close(sigmoid(x), [](double v) { return 1 / (1 + std::exp(-v)); }, "sigmoid");
  close(tanh(x), [](double v) { return std::tanh(v); }, "tanh");
  close(gelu(x), [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }, "gelu");
  close(silu(x), [](double v) { return v / (1 + std::exp(-v)); }, "silu");
  close(abs(x), [](double v) { return std::fabs(v); }, "abs");
  close(clamp(x, -1.0, 1.0), [](double v) { return std::min(1.0, std::max(-1.0, v)); }, "clamp");
  close(exp(x), [](double v) { return std::exp(v); }, "exp");
  // sigmoid of large magnitudes: no overflow, no NaN.
  const auto big = values(sigmoid(Tensor::from_vector<double>({-1000, 1000})));
  CHECK(big[0] == 0.0);
  CHECK(big[1] == 1.0);
  CHECK_THROWS_WITH(clamp(x, std::nullopt, std::nullopt), Catch::Contains("at least one of min and max"));
}

// ----- two inputs, broadcasting -----
TEST_CASE("ops: broadcasting forward against loops, comparisons, errors", "[ops]") {
  Generator gen(103);
  const Tensor a = Tensor::randn({2, 1, 3}, gen, DType::Float64), b = Tensor::randn({4, 1}, gen, DType::Float64);
  const Tensor y = a * b;
  REQUIRE(y.shape() == Shape{2, 4, 3});
  const auto va = values(a), vb = values(b), vy = values(y);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 4; ++j)
      for (int k = 0; k < 3; ++k) CHECK(vy[(i * 4 + j) * 3 + k] == va[i * 3 + k] * vb[j]);
  const Tensor g = gt(Tensor::from_vector<double>({1, 2, 3}), Tensor::from_vector<double>({2}));
  CHECK(values(g) == std::vector<double>{0, 0, 1});
  CHECK(values(eq(Tensor::from_vector<double>({1, 2}), Tensor::from_vector<double>({1, 3}))) ==
        std::vector<double>{1, 0});
  CHECK_THROWS_WITH(Tensor::zeros({2, 3}) + Tensor::zeros({4}), Catch::Contains("do not broadcast"));
  CHECK_THROWS_WITH(Tensor::zeros({2}) + Tensor::zeros({2}, DType::Float64), Catch::Contains("mixed dtypes"));
}

// Any nonzero condition is true (the table's masks are 0 and 1).
TEST_CASE("ops: where", "[ops]") {
  const Tensor y = where(Tensor::from_vector<double>({1, 0, 2}), Tensor::from_vector<double>({1, 2, 3}),
                         Tensor::from_vector<double>({-1}));
  CHECK(values(y) == std::vector<double>{1, -1, 3});
}

// ----- reductions -----
TEST_CASE("ops: reductions against loops, argmax, errors", "[ops]") {
  const Tensor x = Tensor::from_vector<double>({1, 5, 2, 7, 3, 0}, {2, 3});
  CHECK(values(sum(x, 0)) == std::vector<double>{8, 8, 2});
  CHECK(values(sum(x, 1, true)) == std::vector<double>{8, 10});
  CHECK(sum(x, 1, true).shape() == Shape{2, 1});
  CHECK(values(mean(x, 1))[0] == Approx(8.0 / 3).epsilon(1e-15));
  CHECK(values(mean(x, 1))[1] == Approx(10.0 / 3).epsilon(1e-15));
  auto [v, i] = max(x, 1);
  CHECK(values(v) == std::vector<double>{5, 7});
  CHECK(i.to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 0});
  CHECK(argmax(x, 0).to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 0, 0});
  CHECK(argmin(x, 1, true).shape() == Shape{2, 1});
  CHECK(values(std::get<0>(min(x, 0))) == std::vector<double>{1, 3, 0});
  CHECK(max(x).item() == 7);
  // Ties: the first index, as torch's CPU kernel.
  CHECK(argmax(Tensor::from_vector<double>({2, 9, 9}), 0).item() == 1);
  // A NaN wins.
  CHECK(std::isnan(max(Tensor::from_vector<double>({1, NAN, 3})).item()));
  CHECK_THROWS_WITH(sum(x, 2), Catch::Contains("dim 2 is out of range"));
}

// ----- matmul -----
TEST_CASE("ops: matmul of two vectors is 0-d, and the shapes it refuses", "[ops]") {
  CHECK(matmul(Tensor::zeros({4}), Tensor::zeros({4})).shape() == Shape{});
  CHECK_THROWS_WITH(matmul(Tensor::zeros({2, 3}), Tensor::zeros({2, 3})), Catch::Contains("cannot be multiplied"));
}

// ----- layout -----
TEST_CASE("ops: layout forward against index arithmetic, errors", "[ops]") {
  std::vector<double> v(24);
  for (int i = 0; i < 24; ++i) v[i] = i;
  const Tensor x = Tensor::from_vector(v, {2, 3, 4});
  const auto p = values(permute(x, {2, 0, 1}));  // [4, 2, 3]
  for (int k = 0; k < 4; ++k)
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 3; ++j) CHECK(p[(k * 2 + i) * 3 + j] == v[(i * 3 + j) * 4 + k]);
  CHECK(values(narrow(x, 2, 1, 2)) ==
        std::vector<double>{1, 2, 5, 6, 9, 10, 13, 14, 17, 18, 21, 22});
  CHECK(values(select(x, 1, 2)) == std::vector<double>{8, 9, 10, 11, 20, 21, 22, 23});
  const Tensor c = cat({x, narrow(x, 0, 0, 1)}, 0);
  CHECK(c.shape() == Shape{3, 3, 4});
  CHECK(values(narrow(c, 0, 2, 1)) == values(narrow(x, 0, 0, 1)));
  CHECK(stack({x, x}, 1).shape() == Shape{2, 2, 3, 4});
  CHECK(squeeze(Tensor::zeros({1, 3, 1})).shape() == Shape{3});
  CHECK(squeeze(Tensor::zeros({2, 3}), 0).shape() == Shape{2, 3});
  CHECK(expand(Tensor::zeros({3, 1}), {-1, 5}).shape() == Shape{3, 5});
  CHECK_THROWS_WITH(narrow(x, 1, 2, 2), Catch::Contains("do not fit"));
  CHECK_THROWS_WITH(cat({x, Tensor::zeros({2, 2, 3}, DType::Float64)}, 1), Catch::Contains("except in dimension 1"));
  CHECK_THROWS_WITH(permute(x, {0, 0, 1}), Catch::Contains("repeated"));
  CHECK_THROWS_WITH(expand(Tensor::zeros({3, 2}), {3, 4}), Catch::Contains("cannot expand"));
}

// ----- indexing -----
TEST_CASE("ops: index_select and gather by hand, and out-of-range indices", "[ops]") {
  const Tensor idx = Tensor::from_vector<std::int64_t>({2, 0, 2, 1});
  const Tensor gidx = Tensor::from_vector<std::int64_t>({0, 2, 2, 1, 1, 1, 0, 0}, {2, 4});
  std::vector<double> v(6);
  for (int i = 0; i < 6; ++i) v[i] = 10 * i;
  const Tensor x = Tensor::from_vector(v, {2, 3});
  CHECK(values(index_select(x, 1, idx)) == std::vector<double>{20, 0, 20, 10, 50, 30, 50, 40});
  CHECK(values(gather(x, 1, gidx)) == std::vector<double>{0, 20, 20, 10, 40, 40, 30, 30});
  CHECK_THROWS_WITH(index_select(x, 1, Tensor::from_vector<std::int64_t>({0, 3})),
                    Catch::Contains("index_select: the index of row 1 is 3, outside the 3"));
  CHECK_THROWS_WITH(gather(x, 0, Tensor::from_vector<std::int64_t>({0, 1, -1}, {1, 3})),
                    Catch::Contains("gather: the index of row 2 is -1"));
}

// ----- dropout -----
TEST_CASE("ops: dropout's mask: repeatable, the keep rate and scale, p = 0 and 1", "[ops]") {
  const Tensor x = Tensor::ones({100000}, DType::Float64);
  Generator g1(9), g2(9);
  const auto a = values(dropout(x, 0.25, true, &g1)), b = values(dropout(x, 0.25, true, &g2));
  CHECK(a == b);
  std::int64_t zeros = 0;
  for (double e : a) {
    CHECK((e == 0.0 || e == Approx(1 / 0.75)));
    zeros += e == 0.0;
  }
  // 100000 Bernoulli(0.25) draws: the standard deviation of the count is 137.
  CHECK(std::abs(zeros - 25000) < 1000);
  CHECK(dropout(x, 0.5, false).is_same(x));
  CHECK(values(dropout(x, 1.0, true)) == std::vector<double>(100000, 0.0));
  CHECK_THROWS_WITH(dropout(x, 1.5, true), Catch::Contains("p must be in [0, 1]"));
}

// ----- avg_pool2d -----
TEST_CASE("ops: avg_pool2d refuses a kernel larger than the padded input", "[ops]") {
  CHECK_THROWS_WITH(avg_pool2d(Tensor::zeros({1, 1, 2, 2}), {{3, 3}, {1, 1}, {0, 0}, true}),
                    Catch::Contains("does not fit"));
}

// ----- the modules around the ops -----
TEST_CASE("modules: Dropout follows train()/eval(), and activations and AvgPool2d call their ops", "[ops][module]") {
  Generator gen(113);
  const Tensor x = Tensor::randn({4, 8}, gen, DType::Float64);
  Dropout drop(0.5);
  drop.train();
  manual_seed(3);
  const auto a = values(drop.forward(x));
  manual_seed(3);
  CHECK(values(drop.forward(x)) == a);  // the mask comes from default_generator()
  std::int64_t zeros = 0;
  for (double e : a) zeros += e == 0.0;
  CHECK(zeros > 0);
  drop.eval();
  CHECK(drop.forward(x).is_same(x));
  CHECK_THROWS_WITH(Dropout(-0.1), Catch::Contains("p must be in [0, 1]"));
  CHECK(values(Sigmoid().forward(x)) == values(sigmoid(x)));
  CHECK(values(Tanh().forward(x)) == values(tanh(x)));
  CHECK(values(GELU().forward(x)) == values(gelu(x)));
  CHECK(values(SiLU().forward(x)) == values(silu(x)));
  CHECK(Identity().forward(x).is_same(x));
  const Tensor img = Tensor::randn({1, 2, 4, 4}, gen, DType::Float64);
  CHECK(values(AvgPool2d(2).forward(img)) == values(avg_pool2d(img, {{2, 2}, {2, 2}, {0, 0}, true})));
  CHECK(Dropout(0.2).type_name() == "Dropout");
}
