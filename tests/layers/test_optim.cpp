// Optimisers as modules use them, learning-rate schedules against torch.optim.lr_scheduler's
// own numbers, and gradient clipping.
#include <catch2/catch.hpp>

#include <cmath>
#include <initializer_list>
#include <utility>

#include "minidl/core/ops.h"
#include "minidl/layers/lr_schedule.h"
#include "minidl/layers/optim.h"

using namespace minidl;

namespace {
LrSchedule schedule(LrSchedule::Kind kind, double base_lr) {
  LrSchedule s;
  s.kind = kind;
  s.base_lr = base_lr;
  return s;
}

// Checks lr_at(step) against {step, lr} pairs torch printed.
void check_lrs(const LrSchedule& s, std::initializer_list<std::pair<int, double>> torch_lrs) {
  for (auto [step, lr] : torch_lrs) CHECK(s.lr_at(step) == Approx(lr).epsilon(1e-9));
}
}  // namespace

TEST_CASE("LR schedules match torch.optim.lr_scheduler", "[optim]") {
  // Printed by torch 1.13: OneCycleLR(max_lr=0.1, total_steps=100), CosineAnnealingLR(T_max=100,
  // eta_min=0.001), StepLR(step_size=30, gamma=0.1), read before each optimizer step.
  LrSchedule one = schedule(LrSchedule::Kind::OneCycle, 0.1);
  one.total_steps = 100;
  check_lrs(one, {{0, 0.004}, {10, 0.029516394846410082}, {29, 0.1}, {30, 0.09994965352845243},
                  {50, 0.0793893450575732}, {99, 4e-07}});

  LrSchedule cos = schedule(LrSchedule::Kind::Cosine, 0.1);
  cos.total_steps = 100;
  cos.min_lr = 0.001;
  check_lrs(cos, {{0, 0.1}, {25, 0.08550178566873408}, {50, 0.050499999999999975}, {99, 0.0010244252618962857}});

  LrSchedule step = schedule(LrSchedule::Kind::Step, 0.1);
  step.step_size = 30;
  step.gamma = 0.1;
  check_lrs(step, {{0, 0.1}, {29, 0.1}, {30, 0.01}, {65, 0.001}});

  // Linear warm-up over 10 steps to 0.1, then cosine to 0 at step 110.
  LrSchedule wc = schedule(LrSchedule::Kind::WarmupCosine, 0.1);
  wc.warmup_steps = 10;
  wc.total_steps = 110;
  CHECK(wc.lr_at(0) == Approx(0.01));
  CHECK(wc.lr_at(9) == Approx(0.1));
  CHECK(wc.lr_at(10) == Approx(0.1));
  CHECK(wc.lr_at(60) == Approx(0.05));
  CHECK(wc.lr_at(110) == Approx(0.0).margin(1e-12));
  CHECK(LrSchedule::parse("warmup-cosine") == LrSchedule::Kind::WarmupCosine);
  CHECK_THROWS_WITH(LrSchedule::parse("linear"), Catch::Contains("onecycle"));
}

TEST_CASE("SGD skips parameters without a gradient and its state round-trips", "[optim]") {
  Tensor a = Tensor::from_vector<float>({1, 2}).requires_grad_();
  Tensor b = Tensor::from_vector<float>({3}).requires_grad_();
  SGD opt({{"a", a}, {"b", b}}, SGDOptions(0.1).momentum(0.9));
  sum(a).backward();  // b gets no gradient
  opt.step();
  CHECK(a.to_vector<float>() == std::vector<float>{0.9f, 1.9f});
  CHECK(b.to_vector<float>() == std::vector<float>{3.f});
  // Second step with momentum: buf = 0.9 * 1 + 1 = 1.9, a -= 0.1 * 1.9.
  opt.step();
  CHECK(a.to_vector<float>()[0] == Approx(0.9f - 0.19f));
  std::map<std::string, Tensor> saved;
  for (auto& [k, t] : opt.state_dict()) saved[k] = t.clone();
  CHECK(saved.count("a.momentum_buffer") == 1);
  CHECK(saved.at("step").item() == 2);

  Tensor a2 = Tensor::from_vector<float>({0.71f, 1.71f}).requires_grad_();
  Tensor b2 = Tensor::from_vector<float>({3}).requires_grad_();
  SGD resumed({{"a", a2}, {"b", b2}}, SGDOptions(0.1).momentum(0.9));
  resumed.load_state_dict(saved);
  CHECK(resumed.steps() == 2);
  opt.zero_grad();
  sum(a).backward();
  sum(a2).backward();
  opt.step();
  resumed.step();
  CHECK(a2.to_vector<float>()[0] == Approx(a.to_vector<float>()[0]));
  // An op's output is not a parameter; a frozen one (no grad) is accepted and never moves.
  Tensor leaf = Tensor::ones({1}).requires_grad_();
  CHECK_THROWS_WITH(SGD({{"c", mul(leaf, 2.0)}}, SGDOptions(0.1)), Catch::Contains("'c'") && Catch::Contains("leaf"));
  CHECK_THROWS_WITH(SGD({{"a", a}, {"a", b}}, SGDOptions(0.1)), Catch::Contains("'a' appears twice"));
}

TEST_CASE("AdamW's first step moves every weight by lr against its gradient's sign", "[optim]") {
  // With bias correction, step 1 gives m_hat = g and v_hat = g^2, so the update is
  // lr * g / (|g| + eps) after the decay p *= 1 - lr * wd.
  Tensor p = Tensor::from_vector<double>({1.0, -2.0, 0.5}).requires_grad_();
  AdamW opt({{"p", p}}, AdamWOptions(0.01).betas(0.9, 0.999).eps(1e-8).weight_decay(0.1));
  p.set_grad(Tensor::from_vector<double>({0.3, -4.0, 0.0}));
  opt.step();
  const auto v = p.to_vector<double>();
  CHECK(v[0] == Approx(1.0 * (1 - 0.001) - 0.01 * 0.3 / (0.3 + 1e-8)).epsilon(1e-12));
  CHECK(v[1] == Approx(-2.0 * (1 - 0.001) + 0.01 * 4.0 / (4.0 + 1e-8)).epsilon(1e-12));
  CHECK(v[2] == Approx(0.5 * (1 - 0.001)).epsilon(1e-12));
}

TEST_CASE("clip_grad_norm_ scales gradients to the norm and reports the norm before", "[optim]") {
  Tensor a = Tensor::zeros({2}, DType::Float64).requires_grad_(), b = Tensor::zeros({1}, DType::Float64).requires_grad_();
  a.set_grad(Tensor::from_vector<double>({3, 0}));
  b.set_grad(Tensor::from_vector<double>({4}));
  const Tensor norm = clip_grad_norm_({a, b}, 10.0);
  CHECK(norm.dtype() == DType::Float64);
  CHECK(norm.device() == a.device());
  CHECK(norm.item() == Approx(5.0));
  CHECK(a.grad().to_vector<double>()[0] == 3.0);  // under the limit: unchanged
  CHECK(clip_grad_norm_({a, b}, 1.0).item() == Approx(5.0));
  CHECK(a.grad().to_vector<double>()[0] == Approx(0.6).epsilon(1e-6));
  CHECK(b.grad().to_vector<double>()[0] == Approx(0.8).epsilon(1e-6));
}

TEST_CASE("optimiser options are set by name and validated", "[optim]") {
  const SGDOptions o = SGDOptions(0.1).momentum(0.9).weight_decay(5e-4);
  CHECK(o.lr() == 0.1);
  CHECK(o.momentum() == 0.9);
  CHECK(o.weight_decay() == 5e-4);
  CHECK(o.dampening() == 0.0);  // what {0.1, 0.9, 5e-4} used to set
  CHECK_FALSE(o.nesterov());
  const AdamWOptions a = AdamWOptions().weight_decay(0.05);
  CHECK(a.lr() == 1e-3);
  CHECK(a.beta2() == 0.999);
  CHECK(a.weight_decay() == 0.05);
  Tensor p = Tensor::zeros({1}).requires_grad_();
  CHECK_THROWS_WITH(SGD({{"p", p}}, SGDOptions(0.1).nesterov(true)), Catch::Contains("nesterov"));
  CHECK_THROWS_WITH(AdamW({{"p", p}}, AdamWOptions().betas(0.9, 1.0)), Catch::Contains("betas"));
}

TEST_CASE("parameter groups step with their own lr and weight decay", "[optim]") {
  // Plain SGD: p -= lr * (g + wd * p), per group; a frozen parameter never moves.
  Tensor a = Tensor::from_vector<double>({1.0, 2.0}).requires_grad_();
  Tensor b = Tensor::from_vector<double>({3.0}).requires_grad_();
  Tensor c = Tensor::from_vector<double>({4.0}).requires_grad_();
  Tensor frozen = Tensor::from_vector<double>({5.0});
  SGD opt({{{{"a", a}, {"frozen", frozen}}}, {{{"b", b}}, 0.5, 0.1}, {{{"c", c}}, std::nullopt, 0.2}},
          SGDOptions(0.1).weight_decay(0.01));
  REQUIRE(opt.num_param_groups() == 3);
  CHECK(opt.lr(0) == 0.1);
  CHECK(opt.lr(1) == 0.5);
  CHECK(opt.lr(2) == 0.1);
  CHECK(opt.weight_decay(1) == 0.1);
  CHECK(opt.weight_decay(2) == 0.2);
  for (Tensor* t : {&a, &b, &c}) t->set_grad(Tensor::ones(t->shape(), DType::Float64));
  opt.step();
  CHECK(a.to_vector<double>()[0] == Approx(1.0 - 0.1 * (1 + 0.01 * 1.0)).epsilon(1e-14));
  CHECK(a.to_vector<double>()[1] == Approx(2.0 - 0.1 * (1 + 0.01 * 2.0)).epsilon(1e-14));
  CHECK(b.to_vector<double>()[0] == Approx(3.0 - 0.5 * (1 + 0.1 * 3.0)).epsilon(1e-14));
  CHECK(c.to_vector<double>()[0] == Approx(4.0 - 0.1 * (1 + 0.2 * 4.0)).epsilon(1e-14));
  CHECK(frozen.to_vector<double>()[0] == 5.0);
  opt.set_lr(1, 0.25);
  CHECK(opt.lr(1) == 0.25);
  CHECK(opt.lr(0) == 0.1);
  opt.set_lr(0.05);  // a schedule sets every group
  CHECK(opt.lr(0) == 0.05);
  CHECK(opt.lr(1) == 0.05);
  CHECK_THROWS_WITH(SGD({{{{"a", a}}}, {{{"again", a}}}}, SGDOptions(0.1)), Catch::Contains("more than one group"));
}

TEST_CASE("SGD momentum starts from the first gradient of a parameter that joins late", "[optim]") {
  // PyTorch clones the first gradient into the buffer whenever the buffer is created, so with
  // dampening 0.5 a parameter whose first gradient comes at step 2 moves by lr * g, not by
  // lr * 0.5 * g.
  Tensor a = Tensor::from_vector<double>({0.0}).requires_grad_();
  Tensor b = Tensor::from_vector<double>({0.0}).requires_grad_();
  SGD opt({{"a", a}, {"b", b}}, SGDOptions(1.0).momentum(0.9).dampening(0.5));
  a.set_grad(Tensor::from_vector<double>({1.0}));
  opt.step();  // b has no gradient yet
  b.set_grad(Tensor::from_vector<double>({1.0}));
  opt.step();
  CHECK(b.to_vector<double>()[0] == Approx(-1.0).epsilon(1e-14));
  // a: buf = 1 then 0.9 * 1 + 0.5 * 1 = 1.4; a = -1 - 1.4.
  CHECK(a.to_vector<double>()[0] == Approx(-2.4).epsilon(1e-14));
}
