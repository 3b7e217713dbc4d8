// Gradient checks of every differentiable op, float64 on the CPU (see gradcheck.h for the
// contract). Inputs stay off non-smooth points on purpose: relu inputs away from 0, max-pool
// inputs with no ties.
#include "gradcheck.h"

using namespace minidl;
using minidl::test::away_from_zero;
using minidl::test::distinct_input;
using minidl::test::gradcheck;
using minidl::test::rand_input;

TEST_CASE("gradcheck conv2d 3x3 stride 1 pad 1 with bias", "[gradcheck]") {
  Generator gen(1);
  gradcheck("conv2d 3x3 s1 p1",
            [](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in[2], {{1, 1}, {1, 1}}); },
            {rand_input({2, 3, 5, 4}, gen), rand_input({4, 3, 3, 3}, gen), rand_input({4}, gen)});
}

TEST_CASE("gradcheck conv2d 7x7 stride 2 pad 3, one input channel, no bias", "[gradcheck]") {
  Generator gen(2);
  gradcheck("conv2d 7x7 s2 p3",
            [](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], Tensor(), {{2, 2}, {3, 3}}); },
            {rand_input({2, 1, 9, 8}, gen), rand_input({3, 1, 7, 7}, gen)});
}

TEST_CASE("gradcheck conv2d 1x1 stride 2 (downsample) and rectangular kernel", "[gradcheck]") {
  Generator gen(3);
  gradcheck("conv2d 1x1 s2",
            [](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], Tensor(), {{2, 2}, {0, 0}}); },
            {rand_input({2, 4, 5, 5}, gen), rand_input({3, 4, 1, 1}, gen)});
  gradcheck("conv2d 2x3 s(1,2) p(1,0)",
            [](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in[2], {{1, 2}, {1, 0}}); },
            {rand_input({1, 2, 4, 7}, gen), rand_input({2, 2, 2, 3}, gen), rand_input({2}, gen)});
}

TEST_CASE("gradcheck conv2d with an input that does not require grad", "[gradcheck]") {
  Generator gen(4);
  gradcheck("conv2d weight only",
            [](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], Tensor(), {{1, 1}, {1, 1}}); },
            {rand_input({2, 2, 4, 4}, gen, false), rand_input({3, 2, 3, 3}, gen)});
}

TEST_CASE("gradcheck batch_norm training (4-d and 2-d input)", "[gradcheck]") {
  Generator gen(5);
  Tensor rm = Tensor::zeros({3}, DType::Float64), rv = Tensor::ones({3}, DType::Float64);
  gradcheck("batch_norm train 4d",
            [&](const std::vector<Tensor>& in) { return batch_norm(in[0], rm, rv, in[1], in[2], true, 0.1, 1e-5); },
            {rand_input({4, 3, 3, 2}, gen), rand_input({3}, gen), rand_input({3}, gen)});
  gradcheck("batch_norm train 2d",
            [&](const std::vector<Tensor>& in) { return batch_norm(in[0], rm, rv, in[1], in[2], true, 0.1, 1e-5); },
            {rand_input({5, 3}, gen), rand_input({3}, gen), rand_input({3}, gen)});
}

TEST_CASE("gradcheck batch_norm evaluation and without affine parameters", "[gradcheck]") {
  Generator gen(6);
  Tensor rm = Tensor::randn({3}, gen, DType::Float64);
  Tensor rv = Tensor::uniform({3}, 0.5, 2.0, gen, DType::Float64);
  gradcheck("batch_norm eval",
            [&](const std::vector<Tensor>& in) { return batch_norm(in[0], rm, rv, in[1], in[2], false, 0.1, 1e-5); },
            {rand_input({2, 3, 2, 2}, gen), rand_input({3}, gen), rand_input({3}, gen)});
  gradcheck("batch_norm train, no affine",
            [&](const std::vector<Tensor>& in) {
              return batch_norm(in[0], Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-5);
            },
            {rand_input({3, 2, 2, 3}, gen)});
}

TEST_CASE("gradcheck relu", "[gradcheck]") {
  Generator gen(7);
  gradcheck("relu", [](const std::vector<Tensor>& in) { return relu(in[0]); }, {away_from_zero({3, 4, 2}, gen)});
}

TEST_CASE("gradcheck max_pool2d 3x3 stride 2 pad 1 and 2x2", "[gradcheck]") {
  Generator gen(8);
  MaxPool2dOptions stem{{3, 3}, {2, 2}, {1, 1}};
  gradcheck("max_pool2d 3x3 s2 p1", [&](const std::vector<Tensor>& in) { return max_pool2d(in[0], stem); },
            {distinct_input({2, 3, 7, 6}, gen)});
  MaxPool2dOptions two{{2, 2}, {0, 0}, {0, 0}};
  gradcheck("max_pool2d 2x2", [&](const std::vector<Tensor>& in) { return max_pool2d(in[0], two); },
            {distinct_input({1, 2, 4, 5}, gen)});
}

TEST_CASE("gradcheck adaptive_avg_pool2d to 1x1 and to uneven windows", "[gradcheck]") {
  Generator gen(9);
  gradcheck("adaptive_avg_pool2d 1x1",
            [](const std::vector<Tensor>& in) { return adaptive_avg_pool2d(in[0], {1, 1}); },
            {rand_input({2, 3, 4, 3}, gen)});
  gradcheck("adaptive_avg_pool2d 5x7->3x2",
            [](const std::vector<Tensor>& in) { return adaptive_avg_pool2d(in[0], {3, 2}); },
            {rand_input({1, 2, 5, 7}, gen)});
}

TEST_CASE("gradcheck linear with and without bias", "[gradcheck]") {
  Generator gen(10);
  gradcheck("linear", [](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); },
            {rand_input({3, 5}, gen), rand_input({4, 5}, gen), rand_input({4}, gen)});
  gradcheck("linear no bias", [](const std::vector<Tensor>& in) { return linear(in[0], in[1]); },
            {rand_input({2, 3}, gen), rand_input({2, 3}, gen)});
}

TEST_CASE("gradcheck add, add_relu and scalar mul", "[gradcheck]") {
  Generator gen(11);
  gradcheck("add", [](const std::vector<Tensor>& in) { return add(in[0], in[1]); },
            {rand_input({2, 3, 2}, gen), rand_input({2, 3, 2}, gen)});
  gradcheck("add same tensor twice", [](const std::vector<Tensor>& in) { return add(in[0], in[0]); },
            {rand_input({5}, gen)});
  // a + b kept away from 0: a random, b = -a + margin-shifted values.
  Tensor a = rand_input({2, 3, 2}, gen);
  Tensor b = away_from_zero({2, 3, 2}, gen);
  for (std::int64_t i = 0; i < a.numel(); ++i) b.data<double>()[i] -= a.data<double>()[i];
  gradcheck("add_relu", [](const std::vector<Tensor>& in) { return add_relu(in[0], in[1]); }, {a, b});
  gradcheck("mul", [](const std::vector<Tensor>& in) { return mul(in[0], -2.5); }, {rand_input({4, 3}, gen)});
}

TEST_CASE("gradcheck sum and mean", "[gradcheck]") {
  Generator gen(12);
  gradcheck("sum", [](const std::vector<Tensor>& in) { return sum(in[0]); }, {rand_input({3, 4}, gen)});
  gradcheck("mean", [](const std::vector<Tensor>& in) { return mean(in[0]); }, {rand_input({2, 2, 3}, gen)});
}

TEST_CASE("gradcheck log_softmax", "[gradcheck]") {
  Generator gen(13);
  gradcheck("log_softmax", [](const std::vector<Tensor>& in) { return log_softmax(in[0], 1); },
            {rand_input({4, 7}, gen)});
}

TEST_CASE("gradcheck cross_entropy plain, weighted, smoothed", "[gradcheck]") {
  Generator gen(14);
  Tensor target = Tensor::from_vector<std::int64_t>({0, 6, 3, 1, 6});
  gradcheck("cross_entropy", [&](const std::vector<Tensor>& in) { return cross_entropy(in[0], target); },
            {rand_input({5, 7}, gen)});
  CrossEntropyOptions both;
  both.weight = Tensor::uniform({7}, 0.2, 3.0, gen, DType::Float64);
  both.label_smoothing = 0.1;
  gradcheck("cross_entropy weight+smoothing",
            [&](const std::vector<Tensor>& in) { return cross_entropy(in[0], target, both); },
            {rand_input({5, 7}, gen)});
  CrossEntropyOptions smooth;
  smooth.label_smoothing = 0.3;
  gradcheck("cross_entropy smoothing",
            [&](const std::vector<Tensor>& in) { return cross_entropy(in[0], target, smooth); },
            {rand_input({5, 7}, gen)});
}

TEST_CASE("gradcheck flatten and reshape", "[gradcheck]") {
  Generator gen(15);
  // Composed with mul so that the view's backward feeds a real kernel.
  gradcheck("flatten", [](const std::vector<Tensor>& in) { return mul(flatten(in[0], 1), 3.0); },
            {rand_input({2, 3, 2, 2}, gen)});
  gradcheck("reshape", [](const std::vector<Tensor>& in) { return in[0].reshape({3, -1}); },
            {rand_input({2, 3, 2}, gen)});
}

TEST_CASE("gradcheck a residual block: conv, batch_norm, relu, add_relu, pool, linear, loss", "[gradcheck]") {
  // The ops chained as in a BasicBlock, so the engine's accumulation through a branch (x feeds
  // both the conv and the shortcut) is checked too.
  Generator gen(16);
  Tensor target = Tensor::from_vector<std::int64_t>({1, 0});
  Tensor rm = Tensor::zeros({2}, DType::Float64), rv = Tensor::ones({2}, DType::Float64);
  gradcheck(
      "residual block",
      [&](const std::vector<Tensor>& in) {
        Tensor h = relu(batch_norm(conv2d(in[0], in[1], Tensor(), {{1, 1}, {1, 1}}), rm, rv, in[2], in[3], true));
        Tensor y = add_relu(h, in[0]);
        Tensor p = flatten(adaptive_avg_pool2d(y, {1, 1}), 1);
        return cross_entropy(linear(p, in[4], in[5]), target);
      },
      {rand_input({2, 2, 3, 3}, gen), rand_input({2, 2, 3, 3}, gen), rand_input({2}, gen), rand_input({2}, gen),
       rand_input({3, 2}, gen), rand_input({3}, gen)},
      {1e-6, 1e-6, 1e-4});
}
