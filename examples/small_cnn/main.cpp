// A small CNN of our own, built from minidl's modules and trained for one epoch on
// Fashion-MNIST (or on minidl's synthetic faces when Fashion-MNIST is not installed), then
// evaluated on the test set.
//   small_cnn [--limit N] [--data fashion-mnist[:DIR] | synthetic]
#include <minidl/minidl.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

using namespace minidl;

namespace {

// conv-bn-relu-pool twice, then a linear classifier: 28x28 -> 14x14 -> 7x7.
class SmallCnn : public Module {
 public:
  SmallCnn(std::int64_t classes) {
    register_module(
        "features", features_, std::make_shared<Sequential>(std::vector<std::shared_ptr<Module>>{
                        std::make_shared<Conv2d>(Conv2dSpec{1, 16, 3, 1, 1, 1, 1, false}),
                        std::make_shared<BatchNorm2d>(16),
                        std::make_shared<ReLU>(), std::make_shared<MaxPool2d>(2),
                        std::make_shared<Conv2d>(Conv2dSpec{16, 32, 3, 1, 1, 1, 1, false}),
                        std::make_shared<BatchNorm2d>(32),
                        std::make_shared<ReLU>(), std::make_shared<MaxPool2d>(2)}));
    register_module("pool", pool_, std::make_shared<AdaptiveAvgPool2d>(4, 4));
    register_module("fc", fc_, std::make_shared<Linear>(32 * 4 * 4, classes));
  }
  Tensor forward(const Tensor& x) override { return (*fc_)(flatten((*pool_)((*features_)(x)), 1)); }
  std::string type_name() const override { return "SmallCnn"; }

 private:
  std::shared_ptr<Sequential> features_;
  std::shared_ptr<AdaptiveAvgPool2d> pool_;
  std::shared_ptr<Linear> fc_;
};

}  // namespace

int main(int argc, char** argv) {
  std::int64_t limit = 6000;
  std::string source = std::filesystem::exists("/usr/share/datasets/fashion-mnist") ? "fashion-mnist" : "synthetic";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--limit")) limit = std::stoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--data")) source = argv[i + 1];
  }
  try {
    std::printf("%s\n", build_info());
    data::DataSourceOptions opt = data::DataSourceOptions::parse(source);
    opt.height = opt.width = 28;
    opt.synthetic_size = limit + limit / 5;
    opt.synthetic_test = limit / 5;
    data::DataSplits splits = data::open_data(opt);
    std::vector<std::int64_t> first(static_cast<std::size_t>(std::min(limit, splits.train->size())));
    for (std::size_t i = 0; i < first.size(); ++i) first[i] = static_cast<std::int64_t>(i);
    auto train = std::make_shared<data::Subset>(splits.train, first, "first " + std::to_string(first.size()));
    data::DatasetPtr test = splits.test ? splits.test : splits.val;

    manual_seed(0);
    SmallCnn model(train->num_classes());
    SGD opt_sgd(model.named_parameters(), SGDOptions(0.05).momentum(0.9).weight_decay(5e-4));
    CrossEntropyLoss loss_fn;
    data::DataLoaderOptions lo;
    lo.batch_size = 64;
    lo.drop_last = true;
    data::DataLoader loader(train, lo);
    loader.start_epoch(0);
    data::Batch batch;
    const auto t0 = std::chrono::steady_clock::now();
    double loss_sum = 0;
    std::int64_t steps = 0;
    while (loader.next(batch)) {
      opt_sgd.zero_grad();
      Tensor loss = loss_fn(model.forward(batch.images), batch.labels);
      loss.backward();
      opt_sgd.step();
      loss_sum += loss.item();
      ++steps;
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    model.eval();
    NoGradGuard no_grad;
    data::DataLoaderOptions eo;
    eo.batch_size = 500;
    eo.shuffle = false;
    data::DataLoader test_loader(test, eo);
    test_loader.start_epoch(0);
    std::int64_t right = 0, total = 0;
    while (test_loader.next(batch)) {
      const auto pred = argmax(model.forward(batch.images)).to_vector<std::int64_t>();
      const auto y = batch.labels.to_vector<std::int64_t>();
      for (std::size_t i = 0; i < y.size(); ++i) right += pred[i] == y[i];
      total += static_cast<std::int64_t>(y.size());
    }
    std::printf("data: %s\ntrained 1 epoch on %zu images (%lld steps, mean loss %.4f, %.1f s)\n",
                train->description().c_str(), first.size(), static_cast<long long>(steps), loss_sum / steps, secs);
    std::printf("test accuracy: %.4f (%lld images)\n", static_cast<double>(right) / total, static_cast<long long>(total));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
