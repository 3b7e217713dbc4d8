// minidl against PyTorch's own numbers (tests/make_golden.py wrote them with torch 1.13 from
// torchvision's BasicBlock at width 4): logits in train and eval mode, the loss, every
// parameter gradient, the running statistics after a step, three SGD steps, and a checkpoint
// written by PyTorch. Errors are normwise per tensor: max |ours - torch| / max |torch|.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "minidl/config.h"
#include "minidl/core/rng.h"
#include "minidl/core/safetensors.h"
#include "minidl/layers/checkpoint.h"
#include "minidl/layers/loss.h"
#include "minidl/layers/optim.h"
#include "minidl/models/resnet.h"

using namespace minidl;

namespace {

const std::string kGolden = std::string(MINIDL_TEST_DATA_DIR) + "/golden_resnet18_w4.safetensors";
const std::string kState = std::string(MINIDL_TEST_DATA_DIR) + "/golden_resnet18_w4_state.safetensors";

double rel_error(const Tensor& ours, const Tensor& theirs) {
  REQUIRE(ours.shape() == theirs.shape());
  const auto a = ours.to(Device::cpu()).to(DType::Float64).to_vector<double>();
  const auto b = theirs.to(DType::Float64).to_vector<double>();
  double num = 0, den = 1e-12;
  for (std::size_t i = 0; i < a.size(); ++i) {
    num = std::max(num, std::abs(a[i] - b[i]));
    den = std::max(den, std::abs(b[i]));
  }
  return num / den;
}

void check(const std::string& name, const Tensor& ours, const Tensor& theirs, double tol) {
  const double e = rel_error(ours, theirs);
  std::printf("golden %-45s relative error %.3g (tolerance %.0e)\n", name.c_str(), e, tol);
  INFO(name << ": relative error " << e);
  CHECK(e <= tol);
}

struct Golden {
  TensorFile file = load_safetensors(kGolden);
  const Tensor& operator[](const std::string& k) const {
    auto it = file.tensors.find(k);
    if (it == file.tensors.end()) FAIL("golden file has no " << k);
    return it->second;
  }
  std::map<std::string, Tensor> model_state() const {
    std::map<std::string, Tensor> s;
    for (const auto& [k, t] : file.tensors)
      if (k.rfind("model.", 0) == 0) s[k.substr(6)] = t;
    return s;
  }
};

std::shared_ptr<ResNet> golden_model(const Golden& g, Device device) {
  auto model = resnet18(1, 7, 4);
  model->load_state_dict(g.model_state());
  model->to(device);
  return model;
}

// The whole golden comparison on one device; the CUDA test runs it again on the GPU.
void run_golden(Device device, double logit_tol, double grad_tol) {
  Golden g;
  const Tensor x = g["input"].to(device), y = g["target"].to(device);
  CrossEntropyLoss loss_fn;

  SECTION("train mode: logits, loss, every gradient, running statistics") {
    auto model = golden_model(g, device);
    model->train();
    Tensor logits = model->forward(x);
    Tensor loss = loss_fn(logits, y);
    loss.backward();
    check("train.logits", logits, g["train.logits"], logit_tol);
    check("train.loss", loss.reshape({1}), g["train.loss"].reshape({1}), logit_tol);
    for (const auto& [name, p] : model->named_parameters()) check("train.grad." + name, p.grad(), g["train.grad." + name], grad_tol);
    for (const auto& [name, b] : model->named_buffers()) {
      if (b.dtype() == DType::Int64)
        CHECK(b.item() == g["train.state." + name].item());
      else
        check("train.state." + name, b, g["train.state." + name], logit_tol);
    }
  }
  SECTION("eval mode: logits") {
    auto model = golden_model(g, device);
    model->eval();
    check("eval.logits", model->forward(x), g["eval.logits"], logit_tol);
  }
  SECTION("three SGD steps with momentum and weight decay, then eval") {
    auto model = golden_model(g, device);
    model->train();
    SGD opt(model->named_parameters(), SGDOptions(0.05).momentum(0.9).weight_decay(5e-4));
    std::vector<float> losses;
    for (int i = 0; i < 3; ++i) {
      opt.zero_grad();
      Tensor loss = loss_fn(model->forward(x), y);
      loss.backward();
      opt.step();
      losses.push_back(static_cast<float>(loss.item()));
    }
    check("sgd.losses", Tensor::from_vector(losses), g["sgd.losses"], logit_tol);
    model->eval();
    check("sgd.eval_logits", model->forward(x), g["sgd.eval_logits"], 10 * logit_tol);
  }
}

}  // namespace

TEST_CASE("golden: minidl matches PyTorch on the FER model's structure (CPU, float32)", "[golden]") {
  run_golden(Device::cpu(), 1e-4, 1e-3);
}

TEST_CASE("golden: a checkpoint written by PyTorch loads and gives PyTorch's logits", "[golden]") {
  Golden g;
  auto model = resnet18(1, 7, 4);
  const auto meta = load_checkpoint(*model, kState);
  CHECK(meta.at("written_by").rfind("PyTorch", 0) == 0);
  model->eval();
  check("state file eval.logits", model->forward(g["input"]), g["eval.logits"], 1e-4);
}

TEST_CASE("golden: the same on a GPU", "[golden][cuda]") {
  if (!cuda_available()) {
    std::printf("MINIDL_SKIPPED: no GPU visible, the golden test on CUDA did not run\n");
    return;
  }
  run_golden(Device::cuda(0), 1e-4, 1e-3);
}

TEST_CASE("golden: a checkpoint written by minidl loads in PyTorch with the same logits", "[golden][interop]") {
  // Needs Debian's python3-torch and python3-torchvision; without them the check is skipped.
  if (std::system("/usr/bin/python3 -c 'import torch, torchvision' >/dev/null 2>&1") != 0) {
    std::printf("MINIDL_SKIPPED: /usr/bin/python3 has no torch/torchvision; PyTorch-side check not run\n");
    return;
  }
  manual_seed(11);
  auto model = resnet18(1, 7, 4);
  Generator gen(12);
  for (int i = 0; i < 2; ++i) model->forward(Tensor::randn({4, 1, 32, 32}, gen));  // non-trivial running stats
  model->eval();
  Tensor x = Tensor::uniform({3, 1, 48, 48}, 0, 1, gen);
  Tensor logits = model->forward(x);
  const std::string dir = std::string(MINIDL_BINARY_DIR) + "/tests";
  const std::string ckpt = dir + "/interop_model.safetensors", io = dir + "/interop_io.safetensors";
  save_checkpoint(*model, ckpt, {{"minidl.width", "4"}});
  save_safetensors(io, {{"input", x}, {"logits", logits}});
  const std::string cmd = "/usr/bin/python3 " + std::string(MINIDL_TEST_DATA_DIR) + "/../check_torch_interop.py " + ckpt + " " + io;
  CHECK(std::system(cmd.c_str()) == 0);
}
