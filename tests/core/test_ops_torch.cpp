// The torch-named ops of issue 24 on the CPU: float64 gradient checks of every op (gradcheck.h:
// central differences, +inf-filled fresh buffers, accumulation), forward values against loops
// written here, and the errors. Their CUDA kernels are checked against these CPU ones in
// test_cuda_parity.cpp ([pointwise], [indexing], [reduce_dim]).
#include <cmath>
#include <tuple>

#include "gradcheck.h"
#include "minidl/core/rng.h"
#include "minidl/layers/activation.h"
#include "minidl/layers/simple.h"

using namespace minidl;
using minidl::test::away_from_zero;
using minidl::test::distinct_input;
using minidl::test::gradcheck;
using minidl::test::rand_input;
using In = std::vector<Tensor>;

namespace {

Tensor positive(const Shape& s, Generator& gen) {
  return Tensor::uniform(s, 0.5, 2.0, gen, DType::Float64).requires_grad_(true);
}

std::vector<double> values(const Tensor& t) { return t.to(DType::Float64).to_vector<double>(); }

}  // namespace

// ----- one input -----
TEST_CASE("ops: gradcheck of the one-input maps", "[gradcheck][ops]") {
  Generator gen(101);
  const Shape s = {3, 4};
  gradcheck("neg", [](const In& in) { return neg(in[0]); }, {rand_input(s, gen)});
  gradcheck("exp", [](const In& in) { return exp(in[0]); }, {rand_input(s, gen)});
  gradcheck("log", [](const In& in) { return log(in[0]); }, {positive(s, gen)});
  gradcheck("sqrt", [](const In& in) { return sqrt(in[0]); }, {positive(s, gen)});
  gradcheck("abs", [](const In& in) { return abs(in[0]); }, {away_from_zero(s, gen)});
  gradcheck("sigmoid", [](const In& in) { return sigmoid(in[0]); }, {rand_input(s, gen)});
  gradcheck("tanh", [](const In& in) { return tanh(in[0]); }, {rand_input(s, gen)});
  gradcheck("gelu", [](const In& in) { return gelu(in[0]); }, {rand_input(s, gen)});
  gradcheck("silu", [](const In& in) { return silu(in[0]); }, {rand_input(s, gen)});
  gradcheck("clamp both", [](const In& in) { return clamp(in[0], -0.5, 0.6); }, {rand_input(s, gen)});
  gradcheck("clamp min", [](const In& in) { return clamp(in[0], 0.1); }, {rand_input(s, gen)});
  gradcheck("clamp max", [](const In& in) { return clamp(in[0], std::nullopt, 0.1); }, {rand_input(s, gen)});
  gradcheck("pow 2.5", [](const In& in) { return pow(in[0], 2.5); }, {positive(s, gen)});
  gradcheck("pow -1", [](const In& in) { return pow(in[0], -1.0); }, {positive(s, gen)});
  gradcheck("x + 2, x - 2, 2 - x, x * 3, x / 4, 4 / x, -x",
            [](const In& in) {
              const Tensor& x = in[0];
              return (x + 2.0) * (x - 2.0) + (2.0 - x) + 3.0 * x + x / 4.0 + 4.0 / x + (-x);
            },
            {positive(s, gen)});
}

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
TEST_CASE("ops: gradcheck of add, sub, mul, div, pow with broadcasting", "[gradcheck][ops]") {
  Generator gen(102);
  for (const auto& [sa, sb] : std::vector<std::pair<Shape, Shape>>{
           {{2, 3}, {2, 3}}, {{2, 1, 3}, {4, 1}}, {{3}, {2, 3}}, {{2, 3}, {}}, {{1}, {3, 1, 2}}}) {
    const std::string tag = " " + shape_str(sa) + " " + shape_str(sb);
    gradcheck("add" + tag, [](const In& in) { return in[0] + in[1]; }, {rand_input(sa, gen), rand_input(sb, gen)});
    gradcheck("sub" + tag, [](const In& in) { return in[0] - in[1]; }, {rand_input(sa, gen), rand_input(sb, gen)});
    gradcheck("mul" + tag, [](const In& in) { return in[0] * in[1]; }, {rand_input(sa, gen), rand_input(sb, gen)});
    gradcheck("div" + tag, [](const In& in) { return in[0] / in[1]; }, {rand_input(sa, gen), positive(sb, gen)});
    gradcheck("pow" + tag, [](const In& in) { return pow(in[0], in[1]); }, {positive(sa, gen), rand_input(sb, gen)});
  }
  gradcheck("mul of a tensor with itself", [](const In& in) { return in[0] * in[0]; }, {rand_input({4}, gen)});
}

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

TEST_CASE("ops: where", "[gradcheck][ops]") {
  Generator gen(104);
  const Tensor cond = gt(Tensor::randn({3, 4}, gen, DType::Float64), Tensor::zeros({1}, DType::Float64));
  gradcheck("where", [&](const In& in) { return where(cond, in[0], in[1]); },
            {rand_input({3, 4}, gen), rand_input({4}, gen)});
  const Tensor y = where(Tensor::from_vector<double>({1, 0, 2}), Tensor::from_vector<double>({1, 2, 3}),
                         Tensor::from_vector<double>({-1}));
  CHECK(values(y) == std::vector<double>{1, -1, 3});
}

// ----- reductions -----
TEST_CASE("ops: gradcheck of sum, mean, max, min over dims", "[gradcheck][ops]") {
  Generator gen(105);
  for (const bool keep : {false, true}) {
    const std::string k = keep ? " keepdim" : "";
    gradcheck("sum dim 1" + k, [=](const In& in) { return sum(in[0], 1, keep); }, {rand_input({2, 3, 4}, gen)});
    gradcheck("sum dims {0, 2}" + k, [=](const In& in) { return sum(in[0], {0, -1}, keep); },
              {rand_input({2, 3, 4}, gen)});
    gradcheck("mean dim -1" + k, [=](const In& in) { return mean(in[0], -1, keep); }, {rand_input({2, 3, 4}, gen)});
    gradcheck("max dim 0" + k, [=](const In& in) { return std::get<0>(max(in[0], 0, keep)); },
              {distinct_input({3, 4}, gen)});
    gradcheck("min dim 1" + k, [=](const In& in) { return std::get<0>(min(in[0], 1, keep)); },
              {distinct_input({3, 4, 2}, gen)});
  }
  gradcheck("max over all", [](const In& in) { return max(in[0]); }, {distinct_input({3, 4}, gen)});
  gradcheck("mean over all dims", [](const In& in) { return mean(in[0], std::vector<std::int64_t>{}); },
            {rand_input({3, 2}, gen)});
}

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

// ----- softmax -----
TEST_CASE("ops: softmax and log_softmax on every dim", "[gradcheck][ops]") {
  Generator gen(106);
  for (const std::int64_t d : {0, 1, 2, -1}) {
    const std::string tag = " dim " + std::to_string(d);
    gradcheck("softmax" + tag, [=](const In& in) { return softmax(in[0], d); }, {rand_input({2, 3, 4}, gen)});
    gradcheck("log_softmax" + tag, [=](const In& in) { return log_softmax(in[0], d); }, {rand_input({2, 3, 4}, gen)});
  }
  const Tensor x = Tensor::randn({3, 4, 2}, gen, DType::Float64);
  const auto v = values(x), p = values(softmax(x, 1)), lp = values(log_softmax(x, 1));
  for (int o = 0; o < 3; ++o)
    for (int i = 0; i < 2; ++i) {
      double s = 0;
      for (int j = 0; j < 4; ++j) s += std::exp(v[(o * 4 + j) * 2 + i]);
      for (int j = 0; j < 4; ++j) {
        CHECK(p[(o * 4 + j) * 2 + i] == Approx(std::exp(v[(o * 4 + j) * 2 + i]) / s).epsilon(1e-13));
        CHECK(lp[(o * 4 + j) * 2 + i] == Approx(v[(o * 4 + j) * 2 + i] - std::log(s)).epsilon(1e-13));
      }
    }
}

// ----- matmul -----
TEST_CASE("ops: matmul 2-d, batched, broadcast, vectors", "[gradcheck][ops]") {
  Generator gen(107);
  for (const auto& [sa, sb] : std::vector<std::pair<Shape, Shape>>{{{3, 4}, {4, 2}},
                                                                   {{2, 3, 4}, {2, 4, 5}},
                                                                   {{2, 3, 4}, {4, 5}},
                                                                   {{3, 4}, {2, 4, 5}},
                                                                   {{2, 1, 3, 4}, {3, 4, 2}},
                                                                   {{4}, {4, 3}},
                                                                   {{3, 4}, {4}},
                                                                   {{4}, {4}}}) {
    gradcheck("matmul " + shape_str(sa) + " " + shape_str(sb), [](const In& in) { return matmul(in[0], in[1]); },
              {rand_input(sa, gen), rand_input(sb, gen)});
  }
  const Tensor a = Tensor::randn({2, 3, 4}, gen, DType::Float64), b = Tensor::randn({4, 5}, gen, DType::Float64);
  const auto va = values(a), vb = values(b), vc = values(matmul(a, b));
  for (int q = 0; q < 2; ++q)
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 5; ++j) {
        double s = 0;
        for (int k = 0; k < 4; ++k) s += va[(q * 3 + i) * 4 + k] * vb[k * 5 + j];
        CHECK(vc[(q * 3 + i) * 5 + j] == Approx(s).epsilon(1e-13));
      }
  CHECK(matmul(Tensor::zeros({4}), Tensor::zeros({4})).shape() == Shape{});
  CHECK_THROWS_WITH(matmul(Tensor::zeros({2, 3}), Tensor::zeros({2, 3})), Catch::Contains("cannot be multiplied"));
}

// ----- layout -----
TEST_CASE("ops: gradcheck of permute, transpose, expand, narrow, select, cat, stack, (un)squeeze", "[gradcheck][ops]") {
  Generator gen(108);
  gradcheck("permute", [](const In& in) { return permute(in[0], {2, 0, 1}); }, {rand_input({2, 3, 4}, gen)});
  gradcheck("transpose", [](const In& in) { return transpose(in[0], 0, -1); }, {rand_input({2, 3, 4}, gen)});
  gradcheck("expand", [](const In& in) { return expand(in[0], {2, 3, 4}); }, {rand_input({3, 1}, gen)});
  gradcheck("narrow dim 1", [](const In& in) { return narrow(in[0], 1, 1, 2); }, {rand_input({2, 4, 3}, gen)});
  gradcheck("narrow dim -1", [](const In& in) { return narrow(in[0], -1, 0, 2); }, {rand_input({2, 4, 3}, gen)});
  gradcheck("select", [](const In& in) { return select(in[0], 2, -1); }, {rand_input({2, 4, 3}, gen)});
  gradcheck("cat dim 1", [](const In& in) { return cat({in[0], in[1], in[0]}, 1); },
            {rand_input({2, 3, 2}, gen), rand_input({2, 1, 2}, gen)});
  gradcheck("stack dim -1", [](const In& in) { return stack({in[0], in[1]}, -1); },
            {rand_input({2, 3}, gen), rand_input({2, 3}, gen)});
  gradcheck("unsqueeze, squeeze", [](const In& in) { return mul(squeeze(unsqueeze(in[0], 1), 1), 2.0); },
            {rand_input({2, 3}, gen)});
}

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
TEST_CASE("ops: index_select and gather", "[gradcheck][ops]") {
  Generator gen(109);
  const Tensor idx = Tensor::from_vector<std::int64_t>({2, 0, 2, 1});
  gradcheck("index_select dim 1 with repeats", [&](const In& in) { return index_select(in[0], 1, idx); },
            {rand_input({2, 3, 2}, gen)});
  const Tensor gidx = Tensor::from_vector<std::int64_t>({0, 2, 2, 1, 1, 1, 0, 0}, {2, 4});
  gradcheck("gather dim 1", [&](const In& in) { return gather(in[0], 1, gidx); }, {rand_input({2, 3}, gen)});
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
TEST_CASE("ops: dropout", "[gradcheck][ops]") {
  Generator gen(110);
  // The same generator state per call gives the same mask, so the op is a fixed function.
  gradcheck("dropout p=0.3", [](const In& in) { Generator g(5); return dropout(in[0], 0.3, true, &g); },
            {rand_input({4, 5}, gen)});
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

// ----- cross_entropy reductions -----
TEST_CASE("ops: cross_entropy with reduction none and sum", "[gradcheck][ops]") {
  Generator gen(111);
  const Tensor target = Tensor::from_vector<std::int64_t>({0, 4, 2, 1});
  CrossEntropyOptions none;
  none.reduction = Reduction::None;
  CrossEntropyOptions all = none;
  all.weight = Tensor::uniform({5}, 0.2, 3.0, gen, DType::Float64);
  all.label_smoothing = 0.2;
  CrossEntropyOptions summed = all;
  summed.reduction = Reduction::Sum;
  for (const auto* o : {&none, &all, &summed})
    gradcheck("cross_entropy", [&](const In& in) { return cross_entropy(in[0], target, *o); },
              {rand_input({4, 5}, gen)});
  // Against torch's formula by loops, and the fused mean against the per-sample losses.
  const Tensor logits = Tensor::randn({4, 5}, gen, DType::Float64);
  const auto z = values(logits), w = values(all.weight);
  const auto per = values(cross_entropy(logits, target, all));
  const auto t = target.to_vector<std::int64_t>();
  double total = 0, wsum = 0;
  for (int i = 0; i < 4; ++i) {
    double m = -1e300, s = 0;
    for (int c = 0; c < 5; ++c) m = std::max(m, z[i * 5 + c]);
    for (int c = 0; c < 5; ++c) s += std::exp(z[i * 5 + c] - m);
    const auto logp = [&](int c) { return z[i * 5 + c] - m - std::log(s); };
    double smooth = 0;
    for (int c = 0; c < 5; ++c) smooth += -w[c] * logp(c);
    const double want = 0.8 * w[t[i]] * -logp(t[i]) + 0.2 / 5 * smooth;
    CHECK(per[i] == Approx(want).epsilon(1e-12));
    total += want;
    wsum += w[t[i]];
  }
  CHECK(cross_entropy(logits, target, summed).item() == Approx(total).epsilon(1e-12));
  CrossEntropyOptions mean_w = all;
  mean_w.reduction = Reduction::Mean;
  CHECK(cross_entropy(logits, target, mean_w).item() == Approx(total / wsum).epsilon(1e-12));
}

// ----- avg_pool2d -----
namespace {
// torch's avg_pool2d by loops over the definition.
std::vector<double> avg_pool_ref(const Tensor& x, int k, int s, int p, bool include_pad) {
  const auto v = values(x);
  const std::int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const std::int64_t oh = (h + 2 * p - k) / s + 1, ow = (w + 2 * p - k) / s + 1;
  std::vector<double> out;
  for (std::int64_t q = 0; q < n * c; ++q)
    for (std::int64_t i = 0; i < oh; ++i)
      for (std::int64_t j = 0; j < ow; ++j) {
        double sum = 0;
        std::int64_t real = 0, covered = 0;
        for (std::int64_t a = i * s - p; a < i * s - p + k; ++a)
          for (std::int64_t b = j * s - p; b < j * s - p + k; ++b) {
            if (a < h + p && b < w + p) ++covered;
            if (a < 0 || b < 0 || a >= h || b >= w) continue;
            sum += v[(q * h + a) * w + b];
            ++real;
          }
        out.push_back(sum / static_cast<double>(include_pad ? covered : real));
      }
  return out;
}
}  // namespace

TEST_CASE("ops: avg_pool2d", "[gradcheck][ops]") {
  Generator gen(112);
  for (const auto& [k, s, p] : std::vector<std::tuple<int, int, int>>{{2, 2, 0}, {3, 2, 1}, {3, 1, 1}, {2, 3, 1}}) {
    for (const bool inc : {true, false}) {
      const std::string tag = "k" + std::to_string(k) + " s" + std::to_string(s) + " p" + std::to_string(p) +
                              (inc ? " count_include_pad" : "");
      const AvgPool2dOptions o{{k, k}, {s, s}, {p, p}, inc};
      gradcheck("avg_pool2d " + tag, [=](const In& in) { return avg_pool2d(in[0], o); },
                {rand_input({2, 2, 5, 6}, gen)});
      const Tensor x = Tensor::randn({2, 3, 7, 5}, gen, DType::Float64);
      const auto got = values(avg_pool2d(x, o)), want = avg_pool_ref(x, k, s, p, inc);
      REQUIRE(got.size() == want.size());
      for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(want[i]).epsilon(1e-13));
    }
  }
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
