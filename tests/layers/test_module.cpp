// Module mechanics a fine-tuning user relies on: replacing a submodule keeps forward,
// parameters and state_dict in sync; named_modules, apply, forward hooks; freezing and
// num_parameters; state_dict and load_state_dict on the same type.
#include <catch2/catch.hpp>

#include <set>

#include "minidl/core/autograd.h"
#include "minidl/core/ops.h"
#include "minidl/core/rng.h"
#include "minidl/layers/optim.h"
#include "minidl/models/resnet.h"

using namespace minidl;
using Catch::Matchers::Contains;

namespace {

std::map<std::string, Shape> shapes_of(const NamedTensors& named) {
  std::map<std::string, Shape> out;
  for (const auto& [n, t] : named) out[n] = t.shape();
  return out;
}

}  // namespace

TEST_CASE("module: assigning a new head changes forward, named_parameters, state_dict and training", "[module]") {
  manual_seed(1);
  auto model = resnet18(1, 7, 8);
  // What the user wrote: the field itself.
  model->fc = std::make_shared<Linear>(64, 3);
  const auto params = shapes_of(model->named_parameters());
  CHECK(params.at("fc.weight") == Shape{3, 64});
  CHECK(params.at("fc.bias") == Shape{3});
  CHECK(shapes_of(model->state_dict()).at("fc.weight") == Shape{3, 64});
  Generator gen(2);
  Tensor x = Tensor::randn({2, 1, 32, 32}, gen);
  Tensor y = (*model)(x);
  CHECK(y.shape() == Shape{2, 3});

  // The optimiser built from named_parameters() holds the new head's very tensors, so a step
  // moves them.
  SGD opt(model->named_parameters(), SGDOptions(0.1));
  const auto before = model->fc->weight.to_vector<float>();
  cross_entropy(y, Tensor::from_vector<std::int64_t>({0, 2})).backward();
  opt.step();
  CHECK(model->fc->weight.to_vector<float>() != before);

  // A checkpoint of the new model loads into another model with the same head, strictly.
  auto other = resnet18(1, 7, 8);
  other->replace_module("fc", std::make_shared<Linear>(64, 3));
  REQUIRE_NOTHROW(other->load_state_dict(model->state_dict()));
  CHECK(other->fc->weight.to_vector<float>() == model->fc->weight.to_vector<float>());
  CHECK(other->fc->weight.shape() == Shape{3, 64});
}

TEST_CASE("module: replace_module reaches nested paths and checks the field's type", "[module]") {
  manual_seed(2);
  auto model = resnet18(1, 7, 8);
  auto conv = std::make_shared<Conv2d>(Conv2dSpec{16, 16, 3, 1, 1, 1, 1, false});
  conv->weight.fill_(0.0);
  model->replace_module("layer2.1.conv2", conv);
  auto& block = static_cast<BasicBlock&>(*(*model->layer2)[1]);
  CHECK(block.conv2 == conv);  // the field followed
  CHECK(model->get_submodule("layer2.1.conv2") == conv);
  for (const auto& [n, t] : model->named_parameters())
    if (n == "layer2.1.conv2.weight") CHECK(t.is_same(conv->weight));

  // In a Sequential: forward uses the replacement.
  auto seq = std::make_shared<Sequential>(std::vector<std::shared_ptr<Module>>{std::make_shared<ReLU>(), std::make_shared<ReLU>()});
  auto lin = std::make_shared<Linear>(2, 2, false);
  lin->weight.copy_(Tensor::from_vector<float>({0, 1, 1, 0}));
  seq->replace_module("1", lin);
  CHECK((*seq)(Tensor::from_vector<float>({-1, 3}, {1, 2})).to_vector<float>() == std::vector<float>{3, 0});
  CHECK(seq->named_parameters().size() == 1);
  CHECK(seq->named_parameters()[0].first == "1.weight");

  // A field declared as Linear cannot hold a ReLU; a missing name is named with what exists.
  CHECK_THROWS_WITH(model->replace_module("fc", std::make_shared<ReLU>()),
                    Contains("ResNet.fc") && Contains("Linear") && Contains("ReLU"));
  CHECK_THROWS_WITH(model->replace_module("layer2.7.conv1", conv), Contains("no submodule '7'") && Contains("0, 1"));
  CHECK_THROWS_WITH(model->get_submodule("head"), Contains("no submodule 'head'") && Contains("fc"));
}

TEST_CASE("module: named_modules and apply visit every module with PyTorch's names", "[module]") {
  auto model = resnet18(1, 7, 8);
  const auto mods = model->named_modules();
  // torchvision's resnet18 has 68 modules counting itself (named_modules in PyTorch).
  CHECK(mods.size() == 68);
  CHECK(mods.front().first == "");
  CHECK(mods.front().second == model.get());
  std::set<std::string> names;
  for (const auto& [n, m] : mods) names.insert(n);
  for (const char* n : {"conv1", "layer1.0.bn2", "layer4.0.downsample.1", "fc", "avgpool"}) CHECK(names.count(n) == 1);

  // apply: put every BatchNorm in eval mode while the rest trains (the fine-tuning recipe).
  model->train();
  int bns = 0;
  model->apply([&](Module& m) {
    if (auto* bn = dynamic_cast<BatchNorm2d*>(&m)) {
      bn->eval();
      ++bns;
    }
  });
  CHECK(bns == 20);
  CHECK(model->is_training());
  CHECK_FALSE(model->bn1->is_training());
  CHECK(model->conv1->is_training());
}

TEST_CASE("module: forward hooks see and may replace outputs, pre-hooks inputs, and can be removed", "[module]") {
  manual_seed(3);
  auto model = resnet18(1, 7, 8);
  model->eval();
  Generator gen(4);
  Tensor x = Tensor::randn({2, 1, 32, 32}, gen);
  NoGradGuard no_grad;

  // Capture the pooled features on the way: equal to features(x).
  Tensor captured;
  int calls = 0;
  HookHandle h = model->avgpool->register_forward_hook([&](Module&, const Tensor&, const Tensor& out) {
    captured = out;
    ++calls;
  });
  Tensor logits = (*model)(x);
  REQUIRE(calls == 1);
  CHECK(captured.shape() == Shape{2, 64, 1, 1});
  CHECK(flatten(captured, 1).to_vector<float>() == model->features(x).to_vector<float>());
  CHECK(calls == 2);  // features() went through the hook too
  h.remove();
  (*model)(x);
  CHECK(calls == 2);
  h.remove();  // twice is harmless

  // Replacing the output: zero features give logits equal to the bias.
  auto zero = model->avgpool->register_forward_hook(
      [](Module&, const Tensor&, const Tensor& out) { return Tensor::zeros(out.shape()); });
  const auto b = model->fc->bias.to_vector<float>();
  const auto l = (*model)(x).to_vector<float>();
  for (int i = 0; i < 2; ++i)
    for (int k = 0; k < 7; ++k) CHECK(l[i * 7 + k] == b[k]);
  zero.remove();
  CHECK((*model)(x).to_vector<float>() == logits.to_vector<float>());

  // A pre-hook changes the input a module sees.
  auto pre = model->fc->register_forward_pre_hook([](Module&, const Tensor& in) { return mul(in, 0.0); });
  const auto l2 = (*model)(x).to_vector<float>();
  CHECK(l2[3] == b[3]);
  pre.remove();
}

TEST_CASE("module: freezing, num_parameters(trainable_only) and the optimiser", "[module]") {
  auto model = resnet18(1, 7, 8);
  const std::int64_t all = model->num_parameters(false);
  CHECK(model->num_parameters() == all);
  model->requires_grad_(false);
  model->fc->requires_grad_(true);
  const std::int64_t head = 64 * 7 + 7;
  CHECK(model->num_parameters() == head);
  CHECK(model->num_parameters(/*trainable_only=*/false) == all);
  // Buffers never count: ResNet parameters only.
  std::int64_t params = 0;
  for (const auto& [n, t] : model->named_parameters()) params += t.numel();
  CHECK(all == params);

  // Backward through the frozen backbone writes only the head's gradients; the optimiser
  // takes every parameter and moves only those.
  SGD opt(model->named_parameters(), SGDOptions(0.1).momentum(0.9));
  Generator gen(5);
  const auto conv_before = model->conv1->weight.to_vector<float>();
  cross_entropy((*model)(Tensor::randn({2, 1, 32, 32}, gen)), Tensor::from_vector<std::int64_t>({1, 2})).backward();
  CHECK_FALSE(model->conv1->weight.grad().defined());
  CHECK(model->fc->weight.grad().defined());
  opt.step();
  CHECK(model->conv1->weight.to_vector<float>() == conv_before);
}

TEST_CASE("module: registering submodules", "[module]") {
  struct Twice : Module {
    std::shared_ptr<Linear> a;
    Twice() {
      register_module("a", a, std::make_shared<Linear>(2, 2));
      CHECK_THROWS_WITH(register_module("a", std::make_shared<ReLU>()), Contains("'a' is already registered"));
      CHECK_THROWS_WITH(register_module("b.c", std::make_shared<ReLU>()), Contains("without dots"));
    }
    Tensor forward(const Tensor& x) override { return (*a)(x); }
    std::string type_name() const override { return "Twice"; }
  };
  Twice t;
  CHECK(t.named_children().size() == 1);
  CHECK(t.named_parameters().size() == 2);
}
