// The FER ResNet-18 as a backbone for a new task: the 7 expressions grouped into 3 (negative:
// angry, disgust, fear, sad; positive: happy, surprise; neutral), on minidl's synthetic faces.
//   1. feature extraction: the 512 pooled features of the frozen model (a forward hook on
//      avgpool, eval mode, no grad), and a linear head trained on them;
//   2. fine-tuning: freeze the model, replace its fc with a new Linear(512, 3), keep every
//      BatchNorm in eval mode, train; checks that only the head moved (the backbone's weights and
//      BatchNorm running statistics are as loaded) and that the loss went down.
// Without --checkpoint the backbone has its initial weights (the FER model trained by
// train_resnet is runs/NAME/best.safetensors).
//
//   finetune_resnet [--checkpoint FILE] [--images N] [--size S] [--epochs E]
//
// Exit 0 when both parts trained and the checks hold; 1 otherwise.
#include <minidl/minidl.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "experiment.h"

using namespace minidl;

namespace {

// Angry, Disgust, Fear, Happy, Sad, Surprise, Neutral -> negative 0, positive 1, neutral 2.
Tensor three_classes(const Tensor& labels) {
  std::vector<std::int64_t> v = labels.to_vector<std::int64_t>();
  for (auto& c : v) c = c == 3 || c == 5 ? 1 : (c == 6 ? 2 : 0);
  return Tensor::from_vector(v);
}

Tensor find(const NamedTensors& all, const std::string& name) {
  for (const auto& [n, t] : all)
    if (n == name) return t;
  throw Error("finetune_resnet: no tensor named " + name);
}

// The mean cross-entropy of the model over the whole set (no grad), in eval-like conditions.
double mean_loss(Module& model, data::DataLoader& loader) {
  NoGradGuard no_grad;
  loader.start_epoch(0);
  data::Batch b;
  double sum = 0;
  std::int64_t n = 0;
  while (loader.next(b)) {
    sum += cross_entropy(model(b.images), three_classes(b.labels), {Tensor(), 0.0, Reduction::Sum}).item();
    n += b.size();
  }
  return sum / static_cast<double>(n);
}

bool check(bool ok, const std::string& what, double value) {
  std::printf("  %-62s %s (%.4g)\n", what.c_str(), ok ? "ok" : "FAILED", value);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  std::string checkpoint;
  std::int64_t images = 2000, size = 64, epochs = 3;
  const int status = experiment::parse_args(
      argc, argv, "finetune_resnet",
      "usage: finetune_resnet [--checkpoint FILE] [--images N] [--size S] [--epochs E]\n"
      "  Feature extraction and head fine-tuning on the FER ResNet-18 (synthetic faces, 3 classes).\n",
      {{"--checkpoint", &checkpoint}, {"--images", &images}, {"--size", &size}, {"--epochs", &epochs}});
  if (status >= 0) return status;
  try {
    bool ok = true;
    manual_seed(0);
    auto model = resnet18(/*in_channels=*/1, /*num_classes=*/7);
    if (!checkpoint.empty()) load_checkpoint(*model, checkpoint);
    std::printf("backbone: %s\n", checkpoint.empty() ? "initial weights (no --checkpoint)" : checkpoint.c_str());

    data::DataSourceOptions src;  // synthetic faces: no download
    src.height = src.width = size;
    src.synthetic_size = images + images / 9 + 1;
    src.synthetic_test = 0;
    const data::DatasetPtr train = data::open_data(src).train;
    data::DataLoaderOptions lo;
    lo.batch_size = 32;
    lo.mean = 0.5f;
    lo.std = 0.25f;
    lo.shuffle = false;
    data::DataLoader in_order(train, lo);
    std::printf("data: %s\n", train->description().c_str());

    // ----- 1. feature extraction -----
    std::vector<Tensor> feats, labels;
    Tensor pooled;
    HookHandle h = model->avgpool->register_forward_hook(
        [&](Module&, const Tensor&, const Tensor& out) { pooled = flatten(out, 1); });
    model->eval();  // BatchNorm uses its running statistics
    {
      NoGradGuard no_grad;
      in_order.start_epoch(0);
      data::Batch b;
      while (in_order.next(b)) {
        (*model)(b.images);
        feats.push_back(pooled);
        labels.push_back(three_classes(b.labels));
      }
    }
    h.remove();
    Tensor x = cat(feats, 0), y = cat(labels, 0);
    // Standardised per feature (with the ops: mean and std over dim 0), as a linear probe wants.
    const Tensor mu = mean(x, 0, true), sd = sqrt(mean(pow(x - mu, 2.0), 0, true) + 1e-6);
    x = (x - mu) / sd;
    std::printf("1. features %s from the frozen backbone; a linear probe on them:\n", shape_str(x.shape()).c_str());
    Linear probe(512, 3);
    SGD probe_opt(probe.named_parameters(), SGDOptions(0.05).momentum(0.9));
    double probe_first = 0, probe_last = 0;
    for (int step = 0; step < 50; ++step) {  // full batches
      probe_opt.zero_grad();
      Tensor loss = cross_entropy(probe(x), y);
      loss.backward();
      probe_opt.step();
      (step == 0 ? probe_first : probe_last) = loss.item();
    }
    ok &= check(std::isfinite(probe_last) && probe_last < probe_first,
                "probe loss " + std::to_string(probe_first) + " -> (finite, lower)", probe_last);

    // ----- 2. fine-tuning a new head -----
    const Tensor conv1_before = find(model->named_parameters(), "conv1.weight").clone();
    const Tensor bn_before = find(model->state_dict(), "layer4.1.bn2.running_mean").clone();
    model->requires_grad_(false);                   // freeze everything...
    model->fc = std::make_shared<Linear>(512, 3);  // ...then the new head (requires grad)
    model->train();
    model->apply([](Module& m) {
      if (m.type_name() == "BatchNorm2d") m.eval();  // frozen BatchNorm keeps its statistics
    });
    ok &= check(model->num_parameters() == 512 * 3 + 3, "trainable parameters: only the head's 1539",
                static_cast<double>(model->num_parameters()));
    AdamW opt(model->named_parameters(), AdamWOptions(1e-3));
    lo.shuffle = true;
    data::DataLoader loader(train, lo);
    const double before = mean_loss(*model, in_order);
    std::printf("2. fine-tuning the new head: loss %.4f before\n", before);
    for (std::int64_t epoch = 0; epoch < epochs; ++epoch) {
      loader.start_epoch(epoch);
      data::Batch b;
      while (loader.next(b)) {
        opt.zero_grad();
        Tensor loss = cross_entropy((*model)(b.images), three_classes(b.labels));
        loss.backward();
        opt.step();
      }
      std::printf("   epoch %lld: loss %.4f\n", static_cast<long long>(epoch + 1), mean_loss(*model, in_order));
    }
    const double after = mean_loss(*model, in_order);
    ok &= check(std::isfinite(after) && after < before, "loss over the set " + std::to_string(before) + " -> lower",
                after);
    const double moved = max(abs(find(model->named_parameters(), "conv1.weight") - conv1_before)).item();
    const double stats = max(abs(find(model->state_dict(), "layer4.1.bn2.running_mean") - bn_before)).item();
    ok &= check(moved == 0, "the frozen conv1.weight did not move", moved);
    ok &= check(stats == 0, "BatchNorm running statistics kept (eval mode)", stats);
    std::printf(ok ? "finetune_resnet: ok\n" : "finetune_resnet: FAILED\n");
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "finetune_resnet: %s\n", e.what());
    return 1;
  }
}
