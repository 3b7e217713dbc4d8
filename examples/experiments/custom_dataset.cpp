// A data set of one's own, through minidl's DataLoader (shuffling, batching, worker threads):
// generated colour images of three shapes (square, disc, cross) at random places, sizes and
// colours, 3 x 16 x 16, classified by a small CNN.
//
// A Dataset says how many samples there are, returns sample i (an Image of channels() planes,
// height() x width(), and its label), names its classes and describes itself. get() must be
// safe to call from several threads at once: here each sample is a pure function of its index.
//
//   custom_dataset [--images N] [--epochs E] [--workers W]
//
// Exit 0 when training lowered the loss; 1 otherwise.
#include <minidl/minidl.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "experiment.h"

using namespace minidl;

namespace {

class Shapes : public data::Dataset {
 public:
  Shapes(std::int64_t n, std::uint64_t seed) : n_(n), seed_(seed) {}

  std::int64_t size() const override { return n_; }
  data::Sample get(std::int64_t i) const override {
    check_index(i);  // a bad index is an error naming it
    Generator gen(seed_ * 1000003 + static_cast<std::uint64_t>(i));
    const std::int64_t label = i % 3;
    data::Image img = data::Image::planes(3, kSize, kSize, 0);
    const double cy = gen.uniform(5, 11), cx = gen.uniform(5, 11), r = gen.uniform(2.5, 4.5);
    std::uint8_t colour[3];
    for (auto& c : colour) c = static_cast<std::uint8_t>(gen.uniform(80, 255));
    for (std::int64_t y = 0; y < kSize; ++y)
      for (std::int64_t x = 0; x < kSize; ++x) {
        const double dy = static_cast<double>(y) - cy, dx = static_cast<double>(x) - cx;
        const bool inside = label == 0   ? std::abs(dy) <= r && std::abs(dx) <= r                  // square
                            : label == 1 ? dy * dy + dx * dx <= r * r                               // disc
                                         : (std::abs(dy) <= 1 || std::abs(dx) <= 1) && std::abs(dy) <= r &&
                                               std::abs(dx) <= r;                                     // cross
        if (inside)
          for (int c = 0; c < 3; ++c) img.pixels[static_cast<std::size_t>((c * kSize + y) * kSize + x)] = colour[c];
      }
    return {std::move(img), label};
  }
  std::int64_t label(std::int64_t i) const override { return check_index(i), i % 3; }  // without drawing
  const std::vector<std::string>& class_names() const override { return names_; }
  std::int64_t height() const override { return kSize; }
  std::int64_t width() const override { return kSize; }
  std::int64_t channels() const override { return 3; }
  std::string description() const override { return "shapes (" + std::to_string(n_) + " colour images)"; }

 private:
  static constexpr std::int64_t kSize = 16;
  std::int64_t n_;
  std::uint64_t seed_;
  std::vector<std::string> names_{"square", "disc", "cross"};
};

std::shared_ptr<Sequential> small_cnn() {
  return std::make_shared<Sequential>(std::vector<std::shared_ptr<Module>>{
      std::make_shared<Conv2d>(Conv2dSpec{3, 8, 3, 1, 1, 1, 1, false}), std::make_shared<BatchNorm2d>(8),
      std::make_shared<ReLU>(), std::make_shared<MaxPool2d>(2),
      std::make_shared<Conv2d>(Conv2dSpec{8, 16, 3, 1, 1, 1, 1, false}), std::make_shared<BatchNorm2d>(16),
      std::make_shared<ReLU>(), std::make_shared<AdaptiveAvgPool2d>(1, 1), std::make_shared<Flatten>(),
      std::make_shared<Linear>(16, 3)});
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t images = 3000, epochs = 5;
  int workers = 2;
  const int status = experiment::parse_args(
      argc, argv, "custom_dataset",
      "usage: custom_dataset [--images N] [--epochs E] [--workers W]\n"
      "  A Dataset of generated colour shapes through the DataLoader, and a small CNN on it.\n",
      {{"--images", &images}, {"--epochs", &epochs}, {"--workers", &workers}});
  if (status >= 0) return status;
  try {
    auto train = std::make_shared<Shapes>(images, 1), test = std::make_shared<Shapes>(images / 4 + 3, 2);
    std::printf("train: %s; test: %s\n", train->description().c_str(), test->description().c_str());
    data::DataLoaderOptions lo;
    lo.batch_size = 32;
    lo.num_workers = workers;
    lo.seed = 1;
    lo.std = 0.5f;  // pixels / 255 / 0.5
    data::DataLoader loader(train, lo);
    lo.shuffle = false;
    data::DataLoader test_loader(test, lo);

    manual_seed(0);
    auto model = small_cnn();
    SGD opt(model->named_parameters(), SGDOptions(0.05).momentum(0.9));
    double first = 0, last = 0;
    for (std::int64_t epoch = 0; epoch < epochs; ++epoch) {
      const double mean_loss = experiment::train_epoch(*model, opt, loader, epoch);  // a new order every epoch
      const experiment::Accuracy acc = experiment::accuracy(*model, test_loader);
      if (!std::isfinite(mean_loss)) return std::fprintf(stderr, "custom_dataset: FAILED: loss %g\n", mean_loss), 1;
      (epoch == 0 ? first : last) = mean_loss;
      std::printf("epoch %lld: train loss %.4f, test accuracy %.3f\n", static_cast<long long>(epoch + 1), mean_loss,
                  acc.fraction());
    }
    if (epochs > 1 && !(last < first))
      return std::fprintf(stderr, "custom_dataset: FAILED: the loss did not decrease (%g -> %g)\n", first, last), 1;
    std::printf("custom_dataset: ok\n");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "custom_dataset: %s\n", e.what());
    return 1;
  }
}
