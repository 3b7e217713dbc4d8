// A focal loss (Lin et al., 2017) composed of minidl's ops, no kernel of its own:
//   FL = mean_i  -alpha[t_i] (1 - p_i)^gamma log p_i,   p_i = softmax(logits_i)[t_i]
// checked (float64 gradcheck; gamma = 0 without alpha is cross_entropy, value and gradient),
// then used to train a small MLP on an imbalanced 3-class problem (points in the plane, 80%/15%/5%).
//
//   focal_loss [--samples N] [--epochs E] [--gamma G]
//
// Exit 0 when the checks pass and training lowered the loss; 1 otherwise.
#include <minidl/minidl.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "experiment.h"

using namespace minidl;

namespace {

// logits [n, c], target int64 [n], alpha [c] or undefined.
Tensor focal_loss(const Tensor& logits, const Tensor& target, double gamma, const Tensor& alpha = Tensor()) {
  const Tensor logp = squeeze(gather(log_softmax(logits, 1), 1, unsqueeze(target, 1)), 1);  // log p_t, [n]
  Tensor loss = -pow(1.0 - exp(logp), gamma) * logp;
  if (alpha.defined()) loss = loss * index_select(alpha, 0, target);
  return mean(loss);
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  return max(abs(a.detach() - b.detach())).item();
}

// Three blobs in the plane, the classes drawn 80/15/5.
std::pair<Tensor, Tensor> imbalanced(std::int64_t n, Generator& gen) {
  const double cx[3] = {0.0, 2.0, -1.5}, cy[3] = {0.0, 1.5, 2.0};
  std::vector<float> x;
  std::vector<std::int64_t> y;
  for (std::int64_t i = 0; i < n; ++i) {
    const double u = gen.uniform();
    const int c = u < 0.80 ? 0 : (u < 0.95 ? 1 : 2);
    x.push_back(static_cast<float>(cx[c] + 0.8 * gen.normal()));
    x.push_back(static_cast<float>(cy[c] + 0.8 * gen.normal()));
    y.push_back(c);
  }
  return {Tensor::from_vector(x, {n, 2}), Tensor::from_vector(y, {n})};
}

bool check(bool ok, const char* what, double value) {
  std::printf("  %-62s %s (%.3g)\n", what, ok ? "ok" : "FAILED", value);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t samples = 2000, epochs = 20;
  double gamma = 2.0;
  const int status = experiment::parse_args(
      argc, argv, "focal_loss",
      "usage: focal_loss [--samples N] [--epochs E] [--gamma G]\n"
      "  A focal loss built from ops, checked, then used to train an MLP on imbalanced classes.\n",
      {{"--samples", &samples}, {"--epochs", &epochs}, {"--gamma", &gamma}});
  if (status >= 0) return status;
  try {
    bool ok = true;
    Generator gen(3);
    const Tensor target = Tensor::from_vector<std::int64_t>({0, 2, 1, 1, 0});
    const Tensor alpha = Tensor::from_vector<double>({0.25, 0.5, 1.0});
    std::printf("checks\n");
    // The ops it is made of are differentiable: backward against central differences (float64).
    GradcheckOptions o;
    o.raise_exception = false;
    const GradcheckResult r = gradcheck(
        [&](const std::vector<Tensor>& in) { return focal_loss(in[0], target, gamma, alpha); },
        {Tensor::randn({5, 3}, gen, DType::Float64).requires_grad_()}, o);
    if (!r.ok) std::printf("  %s\n", r.message.c_str());
    ok &= check(r.ok, "gradcheck of the focal loss (float64), worst error / tolerance", r.worst);
    // gamma = 0 without alpha is the cross-entropy, value and gradient.
    Tensor z1 = Tensor::randn({5, 3}, gen, DType::Float64).requires_grad_();
    Tensor z2 = z1.detach().clone().requires_grad_();
    const Tensor fl = focal_loss(z1, target, 0.0), ce = cross_entropy(z2, target);
    fl.backward();
    ce.backward();
    ok &= check(max_abs_diff(fl, ce) < 1e-12, "gamma 0: the value of cross_entropy", max_abs_diff(fl, ce));
    ok &= check(max_abs_diff(z1.grad(), z2.grad()) < 1e-12, "gamma 0: the gradient of cross_entropy",
                max_abs_diff(z1.grad(), z2.grad()));

    // Training: 2 -> 32 -> 3 with the focal loss, full batches.
    auto [x, y] = imbalanced(samples, gen);
    manual_seed(0);
    Sequential model(std::vector<std::shared_ptr<Module>>{std::make_shared<Linear>(2, 32), std::make_shared<Tanh>(),
                                                          std::make_shared<Linear>(32, 3)});
    SGD opt(model.named_parameters(), SGDOptions(0.5).momentum(0.9));
    const Tensor class_alpha = Tensor::from_vector<float>({0.25f, 1.0f, 1.0f});
    double first = 0, last = 0;
    std::printf("training on %lld points (classes 80/15/5%%), gamma %g\n", static_cast<long long>(samples), gamma);
    for (std::int64_t epoch = 0; epoch < epochs; ++epoch) {
      opt.zero_grad();
      Tensor loss = focal_loss(model(x), y, gamma, class_alpha);
      loss.backward();
      opt.step();
      const double l = loss.item();
      if (!std::isfinite(l)) return std::fprintf(stderr, "focal_loss: FAILED: loss %g at epoch %lld\n", l,
                                                 static_cast<long long>(epoch)), 1;
      (epoch == 0 ? first : last) = l;
      if (epoch == 0 || epoch + 1 == epochs || (epoch + 1) % 10 == 0)
        std::printf("  epoch %3lld: focal loss %.5f\n", static_cast<long long>(epoch + 1), l);
    }
    // Recall of each class: what the focal loss is for.
    NoGradGuard no_grad;
    const auto pred = argmax(model(x), 1).to_vector<std::int64_t>();
    const auto want = y.to_vector<std::int64_t>();
    std::int64_t hit[3] = {0, 0, 0}, count[3] = {0, 0, 0};
    for (std::size_t i = 0; i < pred.size(); ++i) {
      ++count[want[i]];
      hit[want[i]] += pred[i] == want[i];
    }
    for (int c = 0; c < 3; ++c)
      std::printf("  class %d: %lld points, recall %.3f\n", c, static_cast<long long>(count[c]),
                  count[c] ? static_cast<double>(hit[c]) / static_cast<double>(count[c]) : 0.0);
    ok &= check(epochs < 2 || last < first, "the loss decreased (first epoch's, last's)", last);
    std::printf(ok ? "focal_loss: ok\n" : "focal_loss: FAILED\n");
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "focal_loss: %s\n", e.what());
    return 1;
  }
}
