// The autograd engine: accumulation, detach, NoGradGuard, graphs with shared nodes, and that a
// steady-state training step takes no memory from the OS.
#include <catch2/catch.hpp>

#include "minidl/core/allocator.h"
#include "minidl/core/autograd.h"
#include "minidl/core/ops.h"
#include "minidl/core/rng.h"

using namespace minidl;

TEST_CASE("backward accumulates into .grad across calls", "[autograd]") {
  Tensor x = Tensor::from_vector<double>({1, 2, 3}).requires_grad_();
  sum(mul(x, 2.0)).backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{2, 2, 2});
  sum(mul(x, 3.0)).backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{5, 5, 5});
  x.set_grad(Tensor());
  mean(x).backward();
  CHECK(x.grad().to_vector<double>()[0] == Approx(1.0 / 3));
}

TEST_CASE("a node used twice receives the sum of both gradients", "[autograd]") {
  // y = 2x is consumed by two branches: z = sum(3y) + sum(relu(y)); dz/dx = 2*(3 + [y>0]).
  Tensor x = Tensor::from_vector<double>({-1, 2}).requires_grad_();
  Tensor y = mul(x, 2.0);
  Tensor z = add(sum(mul(y, 3.0)), sum(relu(y)));
  z.backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{6, 8});
  CHECK(z.item() == Approx(3 * 2 + 4));
}

TEST_CASE("detach and NoGradGuard stop history", "[autograd]") {
  Tensor x = Tensor::from_vector<double>({1, 2}).requires_grad_();
  CHECK(x.is_leaf());
  Tensor y = mul(x, 2.0);
  CHECK(!y.is_leaf());
  CHECK(y.requires_grad());
  CHECK(!y.detach().requires_grad());
  {
    NoGradGuard guard;
    Tensor z = mul(x, 2.0);
    CHECK(!z.requires_grad());
    CHECK(!grad_enabled());
  }
  CHECK(grad_enabled());
  Tensor c = Tensor::from_vector<double>({1, 2});
  CHECK_THROWS_WITH(sum(c).backward(), Catch::Contains("does not require grad"));
  CHECK_THROWS_WITH(mul(x, 1.0).backward(), Catch::Contains("one-element"));
  CHECK_THROWS_WITH(Tensor::zeros({2}, DType::Int64).requires_grad_(), Catch::Contains("floating"));
}

TEST_CASE("a steady-state training step takes no memory from the OS", "[autograd][allocator]") {
  Generator gen(3);
  Tensor w = Tensor::randn({8, 3, 3, 3}, gen).requires_grad_();
  Tensor gamma = Tensor::ones({8}).requires_grad_(), beta = Tensor::zeros({8}).requires_grad_();
  Tensor rm = Tensor::zeros({8}), rv = Tensor::ones({8});
  Tensor fc = Tensor::randn({5, 8}, gen).requires_grad_();
  Tensor x = Tensor::randn({4, 3, 8, 8}, gen);
  Tensor target = Tensor::from_vector<std::int64_t>({0, 1, 2, 4});
  auto step = [&] {
    for (Tensor* p : {&w, &gamma, &beta, &fc}) p->set_grad(Tensor());
    Tensor h = relu(batch_norm(conv2d(x, w, Tensor(), {{1, 1}, {1, 1}}), rm, rv, gamma, beta, true));
    Tensor logits = linear(flatten(adaptive_avg_pool2d(h, {1, 1}), 1), fc);
    cross_entropy(logits, target).backward();
  };
  step();
  step();
  const auto before = cpu_allocator().stats();
  for (int i = 0; i < 5; ++i) step();
  const auto after = cpu_allocator().stats();
  CHECK(after.system_allocs == before.system_allocs);
  CHECK(w.grad().defined());
}
