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
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--help" || k == "-h") {
      std::printf("usage: mlp_fashion_mnist [--data DIR] [--limit N] [--test-limit N] [--epochs E] [--hidden H] [--p P]\n"
                  "  An MLP with dropout on Fashion-MNIST's IDX files (default DIR %s).\n", a.data.c_str());
      return 0;
    }
    if (i + 1 >= argc) return std::fprintf(stderr, "mlp_fashion_mnist: %s needs a value (see --help)\n", k.c_str()), 1;
    const std::string v = argv[++i];
    if (k == "--data") a.data = v;
    else if (k == "--limit") a.limit = std::stoll(v);
    else if (k == "--test-limit") a.test_limit = std::stoll(v);
    else if (k == "--epochs") a.epochs = std::stoll(v);
    else if (k == "--hidden") a.hidden = std::stoll(v);
    else if (k == "--p") a.p = std::stod(v);
    else return std::fprintf(stderr, "mlp_fashion_mnist: unknown option %s (see --help)\n", k.c_str()), 1;
  }
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
      model->train();  // dropout on
      loader.start_epoch(epoch);
      data::Batch b;
      double sum = 0;
      std::int64_t steps = 0;
      while (loader.next(b)) {
        opt.zero_grad();
        Tensor loss = cross_entropy((*model)(b.images), b.labels);
        loss.backward();
        opt.step();
        const double l = loss.item();
        if (!std::isfinite(l)) return std::fprintf(stderr, "mlp_fashion_mnist: FAILED: loss %g at step %lld\n", l,
                                                   static_cast<long long>(steps)), 1;
        sum += l;
        ++steps;
      }
      model->eval();  // dropout off: the identity
      NoGradGuard no_grad;
      std::int64_t right = 0, seen = 0;
      test_loader.start_epoch(0);
      while (test_loader.next(b)) {
        const auto pred = argmax((*model)(b.images), 1).to_vector<std::int64_t>();
        const auto want = b.labels.to_vector<std::int64_t>();
        for (std::size_t j = 0; j < pred.size(); ++j) right += pred[j] == want[j];
        seen += b.size();
      }
      const double mean_loss = sum / static_cast<double>(steps);
      (epoch == 0 ? first_loss : last_loss) = mean_loss;
      std::printf("epoch %lld: train loss %.4f, test accuracy %.4f (%lld images)\n", static_cast<long long>(epoch + 1),
                  mean_loss, static_cast<double>(right) / static_cast<double>(seen), static_cast<long long>(seen));
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
