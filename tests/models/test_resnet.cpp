// The FER model's structure (names, shapes, counts as torchvision's), its behaviour in train and
// eval mode, state_dict loading, and that it can learn.
#include <catch2/catch.hpp>

#include "minidl/core/autograd.h"
#include "minidl/core/rng.h"
#include "minidl/layers/checkpoint.h"
#include "minidl/layers/loss.h"

#include <cstring>
#include <filesystem>
#include "minidl/layers/optim.h"
#include "minidl/models/resnet.h"

using namespace minidl;
using Catch::Matchers::Contains;

TEST_CASE("resnet18(1, 7) has torchvision's names, shapes and 11,173,831 parameters", "[model]") {
  auto model = resnet18(1, 7);
  CHECK(model->num_parameters() == 11173831);
  const auto params = model->named_parameters();
  REQUIRE(params.size() == 62);
  CHECK(params.front().first == "conv1.weight");
  CHECK(params.front().second.shape() == Shape{64, 1, 7, 7});
  CHECK(params.back().first == "fc.bias");
  CHECK(params.back().second.shape() == Shape{7});
  std::map<std::string, Shape> shapes;
  for (const auto& [n, t] : model->state_dict()) shapes[n] = t.shape();
  CHECK(shapes.size() == 122);  // 62 parameters + 3 buffers x 20 BatchNorms
  CHECK(shapes.at("layer2.0.downsample.0.weight") == Shape{128, 64, 1, 1});
  CHECK(shapes.at("layer2.0.downsample.1.running_var") == Shape{128});
  CHECK(shapes.at("layer4.1.conv2.weight") == Shape{512, 512, 3, 3});
  CHECK(shapes.at("layer1.0.bn1.num_batches_tracked").empty());
  CHECK(shapes.at("fc.weight") == Shape{7, 512});
  CHECK(shapes.count("layer1.0.downsample.0.weight") == 0);  // no downsample where shapes agree
}

TEST_CASE("resnet18 has 20 convolutions and 0.283 GFLOP per 1x64x64 image", "[model]") {
  auto model = resnet18(1, 7);
  const auto convs = model->conv_inputs(64, 64);
  CHECK(convs.size() == 20);
  CHECK(convs.front().oh == 32);
  CHECK(convs.back().h == 2);  // layer4.1.conv2: 2x2 in, 2x2 out
  CHECK(convs.back().oh == 2);
  const auto& downsample = convs[17];  // layer4.0's (after its conv1 and conv2): 1x1, stride 2
  CHECK(downsample.spec.kernel_size == 1);
  CHECK(downsample.h == 4);
  CHECK(downsample.oh == 2);
  CHECK(model->forward_flops(64, 64) / 1e9 == Approx(0.283).margin(0.0005));
}

TEST_CASE("initialisation follows torchvision", "[model]") {
  manual_seed(42);
  auto model = resnet18(1, 7);
  // kaiming_normal fan_out: std of layer4.0.conv1 = sqrt(2 / (512 * 9)).
  const auto w = model->layer4->named_parameters()[0].second.to_vector<float>();
  double sq = 0;
  for (float v : w) sq += double(v) * v;
  CHECK(std::sqrt(sq / w.size()) == Approx(std::sqrt(2.0 / (512 * 9))).epsilon(0.02));
  CHECK(model->bn1->weight.to_vector<float>() == std::vector<float>(64, 1.0f));
  CHECK(model->bn1->bias.to_vector<float>() == std::vector<float>(64, 0.0f));
  for (float v : model->fc->weight.to_vector<float>()) CHECK(std::abs(v) <= 1 / std::sqrt(512.0f));
}

TEST_CASE("any input size from 28x28 works, and the output is [n, classes]", "[model]") {
  auto model = resnet18(1, 10, 8);
  NoGradGuard no_grad;
  model->eval();
  for (std::int64_t s : {28, 48, 64}) CHECK(model->forward(Tensor::zeros({2, 1, s, s})).shape() == Shape{2, 10});
  CHECK_THROWS_WITH(model->forward(Tensor::zeros({2, 3, 64, 64})), Contains("[n, 1, h, w]") && Contains("[2, 3, 64, 64]"));
}

TEST_CASE("eval output does not depend on the batch size", "[model]") {
  manual_seed(1);
  auto model = resnet18(1, 7, 8);
  Generator gen(2);
  // Train a little so the running statistics are not the initial 0 / 1.
  for (int i = 0; i < 3; ++i) model->forward(Tensor::randn({8, 1, 32, 32}, gen));
  model->eval();
  NoGradGuard no_grad;
  Tensor x = Tensor::randn({6, 1, 32, 32}, gen);
  const auto all = model->forward(x).to_vector<float>();
  for (std::int64_t i = 0; i < 6; ++i) {
    const auto one = model->forward(x.narrow0(i, 1)).to_vector<float>();
    for (std::size_t c = 0; c < 7; ++c) CHECK(one[c] == Approx(all[static_cast<std::size_t>(i) * 7 + c]).margin(1e-5));
  }
}

TEST_CASE("state_dict round trip is bit-exact, and bad states are named", "[model]") {
  manual_seed(3);
  auto a = resnet18(1, 7, 8);
  manual_seed(4);
  auto b = resnet18(1, 7, 8);
  std::map<std::string, Tensor> state;
  for (auto& [n, t] : a->state_dict()) state[n] = t;
  b->load_state_dict(state);
  for (auto& [n, t] : b->state_dict()) {
    INFO(n);
    if (t.dtype() == DType::Float32) CHECK(t.to_vector<float>() == state.at(n).to_vector<float>());
    else CHECK(t.to_vector<std::int64_t>() == state.at(n).to_vector<std::int64_t>());
  }
  auto missing = state;
  missing.erase("layer3.1.bn2.running_mean");
  CHECK_THROWS_WITH(b->load_state_dict(missing), Contains("missing keys") && Contains("layer3.1.bn2.running_mean"));
  auto extra = state;
  extra["fc.extra"] = Tensor::zeros({1});
  CHECK_THROWS_WITH(b->load_state_dict(extra), Contains("unexpected keys") && Contains("fc.extra"));
  CHECK_NOTHROW(b->load_state_dict(extra, /*strict=*/false));
  auto wrong = state;
  wrong["fc.weight"] = Tensor::zeros({10, 64});
  CHECK_THROWS_WITH(b->load_state_dict(wrong), Contains("fc.weight") && Contains("[10, 64]") && Contains("[7, 64]"));
}

TEST_CASE("a batch of 8 overfits to near-zero loss", "[model][slow]") {
  manual_seed(5);
  auto model = resnet18(1, 4, 8);
  Generator gen(6);
  Tensor x = Tensor::randn({8, 1, 32, 32}, gen);
  Tensor y = Tensor::from_vector<std::int64_t>({0, 1, 2, 3, 0, 1, 2, 3});
  SGD opt(model->named_parameters(), SGDOptions(0.05).momentum(0.9));
  CrossEntropyLoss loss_fn;
  double first = 0, last = 0;
  for (int step = 0; step < 40; ++step) {
    opt.zero_grad();
    Tensor loss = loss_fn(model->forward(x), y);
    loss.backward();
    opt.step();
    if (step == 0) first = loss.item();
    last = loss.item();
  }
  INFO("first loss " << first << ", last " << last);
  CHECK(first > 1.0);
  CHECK(last < 0.02);
}

TEST_CASE("a checkpoint file round trip is bit-exact and keeps metadata", "[model]") {
  manual_seed(7);
  auto a = resnet18(1, 7, 8);
  // Some steps of training so running statistics and num_batches_tracked are not initial.
  Generator gen(8);
  for (int i = 0; i < 2; ++i) a->forward(Tensor::randn({4, 1, 32, 32}, gen));
  const std::string path = (std::filesystem::temp_directory_path() / "minidl_roundtrip.safetensors").string();
  save_checkpoint(*a, path, {{"minidl.note", "round trip"}});
  manual_seed(9);
  auto b = resnet18(1, 7, 8);
  const auto meta = load_checkpoint(*b, path);
  std::filesystem::remove(path);
  CHECK(meta.at("minidl.note") == "round trip");
  const auto sa = a->state_dict(), sb = b->state_dict();
  REQUIRE(sa.size() == sb.size());
  for (std::size_t i = 0; i < sa.size(); ++i) {
    INFO(sa[i].first);
    CHECK(sa[i].first == sb[i].first);
    CHECK(std::memcmp(sa[i].second.raw_data(), sb[i].second.raw_data(), sa[i].second.nbytes()) == 0);
  }
  CHECK(b->bn1->num_batches_tracked.item() == 2);
}

TEST_CASE("resnet18 fuses each bn + relu, and runs them as two modules when a hook watches either",
          "[model][batch_norm]") {
  // Two models from one seed; b has hooks on the stem's relu and on layer1.0's, so those two
  // pairs run unfused there. Both must compute the same numbers bit for bit, and the hooks must
  // see their calls.
  manual_seed(31);
  auto a = resnet18(1, 7, 8);
  manual_seed(31);
  auto b = resnet18(1, 7, 8);
  a->train();
  b->train();
  auto block_b = std::dynamic_pointer_cast<BasicBlock>((*b->layer1)[0]);
  REQUIRE(block_b);
  int relu_calls = 0;
  auto count = [&](Module&, const Tensor&, const Tensor&) { ++relu_calls; };
  HookHandle h1 = b->relu->register_forward_hook(count), h2 = block_b->relu->register_forward_hook(count);
  // Which op made the maxpool's input: the fused one, or relu after batch_norm.
  std::string node_a, node_b;
  auto node_of = [](std::string& out) {
    return [&out](Module&, const Tensor& in) { out = in.grad_fn() ? in.grad_fn()->name() : "none"; };
  };
  HookHandle p1 = a->maxpool->register_forward_pre_hook(node_of(node_a));
  HookHandle p2 = b->maxpool->register_forward_pre_hook(node_of(node_b));

  Generator gen(32);
  const Tensor x = Tensor::uniform({4, 1, 32, 32}, 0, 1, gen);
  const Tensor ya = a->forward(x), yb = b->forward(x);
  CHECK(node_a == "BatchNormReluBackward");
  CHECK(node_b == "ReluBackward");
  CHECK(relu_calls == 2);
  CHECK(ya.to_vector<float>() == yb.to_vector<float>());
  sum(ya).backward();
  sum(yb).backward();
  const auto pa = a->named_parameters(), pb = b->named_parameters();
  REQUIRE(pa.size() == pb.size());
  for (std::size_t i = 0; i < pa.size(); ++i) {
    INFO(pa[i].first);
    CHECK(pa[i].second.grad().to_vector<float>() == pb[i].second.grad().to_vector<float>());
  }
  h1.remove();
  h2.remove();
  b->forward(x);
  CHECK(relu_calls == 2);  // hooks gone: fused again, nothing calls the relu modules
  CHECK(node_b == "BatchNormReluBackward");
}
