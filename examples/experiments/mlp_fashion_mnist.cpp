// An MLP with dropout on Fashion-MNIST (the IDX files of Debian's dataset-fashion-mnist, or any
// folder holding the four files), trained with AdamW and evaluated on the test set:
//   Flatten -> Linear(784, hidden) -> ReLU -> Dropout(p) -> Linear(hidden, 10)
//
//   mlp_fashion_mnist [--data DIR] [--limit N] [--test-limit N] [--epochs E] [--hidden H] [--p P]
//
// Exit 0 when it trained (every loss finite, the last epoch's mean loss below the first's);
// 2 when the data set is not there (saying where it looked and how to get it); 1 otherwise.
#include <minidl/minidl.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "experiment.h"

using namespace minidl;

namespace {

struct Args {
  std::string data = "/usr/share/datasets/fashion-mnist";
  std::int64_t limit = 60000, test_limit = 10000, epochs = 3, hidden = 256;
  double p = 0.2;
};

std::shared_ptr<Sequential> mlp(std::int64_t hidden, double p) {
  return std::make_shared<Sequential>(std::vector<std::shared_ptr<Module>>{
      std::make_shared<Flatten>(), std::make_shared<Linear>(28 * 28, hidden), std::make_shared<ReLU>(),
      std::make_shared<Dropout>(p), std::make_shared<Linear>(hidden, 10)});
}

data::DatasetPtr first(const data::DatasetPtr& d, std::int64_t n) {
  std::vector<std::int64_t> idx(static_cast<std::size_t>(std::min(n, d->size())));
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<std::int64_t>(i);
  return std::make_shared<data::Subset>(d, idx, "first " + std::to_string(idx.size()));
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  const int status = experiment::parse_args(
      argc, argv, "mlp_fashion_mnist",
      "usage: mlp_fashion_mnist [--data DIR] [--limit N] [--test-limit N] [--epochs E] [--hidden H] [--p P]\n"
      "  An MLP with dropout on Fashion-MNIST's IDX files (default DIR " + a.data + ").\n",
      {{"--data", &a.data}, {"--limit", &a.limit}, {"--test-limit", &a.test_limit}, {"--epochs", &a.epochs},
       {"--hidden", &a.hidden}, {"--p", &a.p}});
  if (status >= 0) return status;
  if (!std::filesystem::exists(std::filesystem::path(a.data) / "train-images-idx3-ubyte.gz") &&
      !std::filesystem::exists(std::filesystem::path(a.data) / "train-images-idx3-ubyte")) {
    std::fprintf(stderr,
                 "mlp_fashion_mnist: Fashion-MNIST is not in %s (no train-images-idx3-ubyte[.gz]): install Debian's "
                 "dataset-fashion-mnist (apt-get install dataset-fashion-mnist) or pass --data DIR with the four IDX "
                 "files\n",
                 a.data.c_str());
    return 2;
  }
  try {
    data::DataSourceOptions src;
    src.kind = "fashion-mnist";
    src.path = a.data;
    const data::DataSplits splits = data::open_data(src);
    const data::DatasetPtr train = first(splits.train, a.limit), test = first(splits.test, a.test_limit);
    std::printf("train: %s; test: %s\n", train->description().c_str(), test->description().c_str());

    manual_seed(0);
    auto model = mlp(a.hidden, a.p);
    AdamW opt(model->named_parameters(), AdamWOptions(1e-3).weight_decay(1e-4));
    data::DataLoaderOptions lo;
    lo.batch_size = 64;
    lo.seed = 1;
    lo.mean = 0.2860f;  // Fashion-MNIST's pixel mean and standard deviation
    lo.std = 0.3530f;
    data::DataLoader loader(train, lo), test_loader(test, [&] { auto o = lo; o.shuffle = false; return o; }());
    double first_loss = 0, last_loss = 0;
    for (std::int64_t epoch = 0; epoch < a.epochs; ++epoch) {
      const double mean_loss = experiment::train_epoch(*model, opt, loader, epoch);  // dropout on
      if (!std::isfinite(mean_loss))
        return std::fprintf(stderr, "mlp_fashion_mnist: FAILED: loss %g in epoch %lld\n", mean_loss,
                            static_cast<long long>(epoch + 1)), 1;
      const experiment::Accuracy acc = experiment::accuracy(*model, test_loader);  // dropout off: the identity
      (epoch == 0 ? first_loss : last_loss) = mean_loss;
      std::printf("epoch %lld: train loss %.4f, test accuracy %.4f (%lld images)\n", static_cast<long long>(epoch + 1),
                  mean_loss, acc.fraction(), static_cast<long long>(acc.seen));
    }
    if (a.epochs > 1 && !(last_loss < first_loss))
      return std::fprintf(stderr, "mlp_fashion_mnist: FAILED: the loss did not decrease (%g -> %g)\n", first_loss,
                          last_loss), 1;
    std::printf("mlp_fashion_mnist: ok\n");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mlp_fashion_mnist: %s\n", e.what());
    return 1;
  }
}
