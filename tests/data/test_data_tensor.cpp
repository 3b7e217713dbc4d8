// The DataLoader beyond one-channel images: TensorDataset (float inputs of any shape with int64
// labels or float targets) and multi-channel images, with shuffling, batching and workers.
#include <catch2/catch.hpp>

#include <map>
#include <set>

#include "minidl/core/rng.h"
#include "minidl/data/augment.h"
#include "minidl/data/dataloader.h"
#include "minidl/data/image_folder.h"
#include "minidl/data/tensor_dataset.h"
#include "test_data_helpers.h"

using namespace minidl;
using namespace minidl::data;
using namespace minidl::data::testing;
using Catch::Matchers::Contains;

namespace {

// n RGB images of h x w: plane ch of image i holds (i * 7 + ch * 50 + k) % 256 at pixel k, so
// every plane differs and each image is known exactly.
class Planes : public Dataset {
 public:
  Planes(std::int64_t n, std::int64_t h, std::int64_t w) : n_(n), h_(h), w_(w) {}
  std::int64_t size() const override { return n_; }
  Sample get(std::int64_t i) const override {
    check_index(i);
    Sample s;
    s.image = plane_image(i, channels_);
    s.label = i % 2;
    return s;
  }
  Image plane_image(std::int64_t i, std::int64_t c) const {
    Image img = Image::planes(c, h_, w_);
    for (std::int64_t ch = 0; ch < c; ++ch)
      for (std::int64_t k = 0; k < h_ * w_; ++k)
        img.pixels[static_cast<std::size_t>(ch * h_ * w_ + k)] = static_cast<std::uint8_t>((i * 7 + ch * 50 + k) % 256);
    return img;
  }
  const std::vector<std::string>& class_names() const override { return names_; }
  std::int64_t height() const override { return h_; }
  std::int64_t width() const override { return w_; }
  std::int64_t channels() const override { return 3; }
  std::string description() const override { return "planes"; }
  std::int64_t channels_ = 3;  // what get() really returns (a broken data set may lie)

 private:
  std::int64_t n_, h_, w_;
  std::vector<std::string> names_{"even", "odd"};
};

// One plane of Planes as a one-channel data set: the reference for the multi-channel path.
class OnePlane : public Dataset {
 public:
  OnePlane(const Planes& all, std::int64_t plane) : all_(all), plane_(plane) {}
  std::int64_t size() const override { return all_.size(); }
  Sample get(std::int64_t i) const override {
    const Image rgb = all_.plane_image(i, 3);
    Sample s;
    s.image = GrayImage(all_.height(), all_.width());
    const std::size_t n = s.image.pixels.size();
    std::copy_n(rgb.pixels.begin() + static_cast<std::ptrdiff_t>(plane_ * n), n, s.image.pixels.begin());
    s.label = i % 2;
    return s;
  }
  const std::vector<std::string>& class_names() const override { return all_.class_names(); }
  std::int64_t height() const override { return all_.height(); }
  std::int64_t width() const override { return all_.width(); }
  std::string description() const override { return "one plane"; }

 private:
  const Planes& all_;
  std::int64_t plane_;
};

}  // namespace

TEST_CASE("TensorDataset: shuffled batches hold each row once, with its label, for any worker count", "[data]") {
  Generator gen(3);
  const std::int64_t n = 23;
  Tensor x = Tensor::randn({n, 2, 3}, gen);
  std::vector<std::int64_t> y(n);
  for (std::int64_t i = 0; i < n; ++i) y[i] = (i * 5) % 4;
  auto ds = std::make_shared<TensorDataset>(x, Tensor::from_vector(y));
  CHECK(ds->size() == n);
  CHECK(ds->num_classes() == 4);
  CHECK(ds->sample_shape() == Shape{2, 3});
  const auto xs = x.to_vector<float>();

  std::vector<std::vector<Batch>> runs;
  for (int workers : {0, 1, 3}) {
    DataLoaderOptions o;
    o.batch_size = 5;
    o.num_workers = workers;
    o.seed = 11;
    DataLoader loader(ds, o);
    const auto batches = run_epoch(loader, 2);
    REQUIRE(batches.size() == 5);
    std::multiset<std::int64_t> seen;
    for (const Batch& b : batches) {
      REQUIRE(b.images.shape() == Shape{b.size(), 2, 3});
      REQUIRE(b.images.dtype() == DType::Float32);
      REQUIRE(b.labels.shape() == Shape{b.size()});
      CHECK_FALSE(b.targets.defined());
      const auto v = b.images.to_vector<float>();
      const auto l = b.labels.to_vector<std::int64_t>();
      for (std::int64_t j = 0; j < b.size(); ++j) {
        const std::int64_t i = b.indices[j];
        seen.insert(i);
        CHECK(l[j] == y[i]);
        for (int k = 0; k < 6; ++k) CHECK(v[j * 6 + k] == xs[i * 6 + k]);
      }
    }
    CHECK(seen.size() == static_cast<std::size_t>(n));
    CHECK(std::set<std::int64_t>(seen.begin(), seen.end()).size() == static_cast<std::size_t>(n));
    runs.push_back(batches);
  }
  // Shuffled (not in order) and the same order whatever the number of workers.
  std::vector<std::int64_t> order;
  for (const Batch& b : runs[0]) order.insert(order.end(), b.indices.begin(), b.indices.end());
  std::vector<std::int64_t> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  CHECK(order != sorted);
  for (std::size_t r = 1; r < runs.size(); ++r)
    for (std::size_t k = 0; k < runs[0].size(); ++k) CHECK(runs[r][k].indices == runs[0][k].indices);
}

TEST_CASE("TensorDataset: float targets of any shape batch into Batch::targets", "[data]") {
  Generator gen(5);
  Tensor x = Tensor::randn({9, 4}, gen, DType::Float64);
  Tensor t = Tensor::randn({9, 2, 2}, gen, DType::Float64);
  auto ds = std::make_shared<TensorDataset>(x, t);
  CHECK(ds->has_float_targets());
  CHECK(ds->num_classes() == 0);
  DataLoaderOptions o = in_order(4, 2);
  DataLoader loader(ds, o);
  const auto batches = run_epoch(loader, 0);
  REQUIRE(batches.size() == 3);
  const auto xs = x.to_vector<double>(), ts = t.to_vector<double>();
  for (const Batch& b : batches) {
    REQUIRE(b.images.dtype() == DType::Float64);  // the data set's dtype, not converted
    REQUIRE(b.targets.shape() == Shape{b.size(), 2, 2});
    CHECK_FALSE(b.labels.defined());
    const auto v = b.images.to_vector<double>(), tv = b.targets.to_vector<double>();
    for (std::int64_t j = 0; j < b.size(); ++j) {
      const std::int64_t i = b.indices[j];
      for (int k = 0; k < 4; ++k) CHECK(v[j * 4 + k] == xs[i * 4 + k]);
      for (int k = 0; k < 4; ++k) CHECK(tv[j * 4 + k] == ts[i * 4 + k]);
    }
  }
  // No classes to balance by.
  DataLoaderOptions balanced = o;
  balanced.class_balanced = true;
  CHECK_THROWS_WITH(DataLoader(ds, balanced), Contains("float targets"));
}

TEST_CASE("TensorDataset: bad tensors are named", "[data]") {
  Tensor x = Tensor::zeros({4, 3});
  CHECK_THROWS_WITH(TensorDataset(x, Tensor::from_vector<std::int64_t>({0, 1, 2})), Contains("4 inputs") && Contains("[3]"));
  CHECK_THROWS_WITH(TensorDataset(x, Tensor::zeros({4, 2}, DType::Int64)), Contains("class labels [N]"));
  CHECK_THROWS_WITH(TensorDataset(x, Tensor::from_vector<std::int64_t>({0, -1, 2, 0})),
                    Contains("label -1 of sample 1"));
  CHECK_THROWS_WITH(TensorDataset(Tensor::zeros({4, 3}, DType::Int64), Tensor::zeros({4})), Contains("float tensor"));
  CHECK_THROWS_WITH(TensorDataset(x, Tensor::from_vector<std::int64_t>({0, 1, 2, 3}), {"a", "b"}),
                    Contains("label 3 but only 2 class names"));
  auto ds = std::make_shared<TensorDataset>(x, Tensor::from_vector<std::int64_t>({0, 1, 0, 1}));
  DataLoaderOptions o;
  o.augment = true;
  DataLoader loader(ds, o);
  CHECK_THAT(first_batch_error(loader), Contains("augmentation warps images"));
}

TEST_CASE("multi-channel images: [B, C, H, W] batches, normalised per pixel", "[data]") {
  auto ds = std::make_shared<Planes>(10, 3, 4);
  DataLoaderOptions o = in_order(4, 2);
  o.mean = 0.5f;
  o.std = 0.25f;
  DataLoader loader(ds, o);
  const auto batches = run_epoch(loader, 0);
  REQUIRE(batches.size() == 3);
  for (const Batch& b : batches) {
    REQUIRE(b.images.shape() == Shape{b.size(), 3, 3, 4});
    const auto v = b.images.to_vector<float>();
    for (std::int64_t j = 0; j < b.size(); ++j) {
      const Image img = ds->plane_image(b.indices[j], 3);
      for (std::size_t k = 0; k < img.pixels.size(); ++k)
        CHECK(v[j * 36 + k] == Approx((img.pixels[k] / 255.0 - 0.5) / 0.25).margin(1e-6));
    }
  }
  // An image with fewer channels than the data set promises is named.
  auto liar = std::make_shared<Planes>(4, 3, 4);
  liar->channels_ = 1;
  DataLoader bad(liar, o);
  CHECK_THAT(first_batch_error(bad), Contains("1x3x4 image; the data set promises 3x3x4"));
}

TEST_CASE("multi-channel images: augmentation moves every channel with the image's one warp", "[data]") {
  // The reference: each plane loaded as a one-channel data set with the same seed gets the
  // same warp (the draw depends on seed, epoch and index only), so it must equal that channel.
  auto ds = std::make_shared<Planes>(6, 12, 10);
  DataLoaderOptions o = in_order(6, 0);
  o.augment = true;
  o.seed = 9;
  o.augment_options.max_rotation_deg = 20;
  DataLoader rgb(ds, o);
  const Batch b = run_epoch(rgb, 3).at(0);
  REQUIRE(b.images.shape() == Shape{6, 3, 12, 10});
  const auto v = b.images.to_vector<float>();
  bool any_change = false;
  for (std::int64_t ch = 0; ch < 3; ++ch) {
    DataLoader one(std::make_shared<OnePlane>(*ds, ch), o);
    const Batch g = run_epoch(one, 3).at(0);
    const auto gv = g.images.to_vector<float>();
    for (std::int64_t j = 0; j < 6; ++j)
      for (std::int64_t k = 0; k < 120; ++k) {
        CHECK(v[(j * 3 + ch) * 120 + k] == gv[j * 120 + k]);
        const Image img = ds->plane_image(j, 3);
        any_change |= gv[j * 120 + k] != img.pixels[ch * 120 + k] / 255.f;
      }
  }
  CHECK(any_change);  // the warp did something
  DataLoaderOptions deferred = o;
  deferred.defer_augment = true;
  DataLoader gpu_warp(ds, deferred);
  gpu_warp.start_epoch(0);
  Batch d;
  CHECK(data_error_of([&] { gpu_warp.next(d); }).find("3 channels") != std::string::npos);
}

TEST_CASE("image folder with channels = 3 keeps R, G and B", "[data]") {
  TempDir dir("rgb");
  // 2x3 pixels of distinct colours.
  const std::vector<std::uint8_t> rgb = {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 200, 100, 50, 7, 7, 7};
  write_file(dir / "red/a.bmp", bmp24(2, 3, rgb));
  write_file(dir / "blue/b.bmp", bmp24(2, 3, rgb));
  ImageFolderOptions opt;
  opt.height = 2;
  opt.width = 3;
  opt.channels = 3;
  auto ds = std::make_shared<ImageFolder>(dir.str(), opt);
  CHECK(ds->channels() == 3);
  CHECK(ds->sample_shape() == Shape{3, 2, 3});
  const Sample s = ds->get(0);
  REQUIRE(s.image.c == 3);
  for (std::int64_t ch = 0; ch < 3; ++ch)
    for (std::int64_t p = 0; p < 6; ++p) CHECK(s.image.at(ch, p / 3, p % 3) == rgb[p * 3 + ch]);
  // The one-channel folder of the same files is their luma.
  opt.channels = 1;
  const Sample g = ImageFolder(dir.str(), opt).get(0);
  for (std::int64_t p = 0; p < 6; ++p) CHECK(g.image.pixels[p] == rgb_to_gray(rgb[p * 3], rgb[p * 3 + 1], rgb[p * 3 + 2]));
  // And through the loader as [B, 3, 2, 3].
  DataLoaderOptions lo;
  lo.batch_size = 2;
  DataLoader loader(ds, lo);
  CHECK(run_epoch(loader, 0).at(0).images.shape() == Shape{2, 3, 2, 3});
  // Resizing a colour folder resizes each plane.
  opt.channels = 3;
  opt.height = 4;
  opt.width = 6;
  const Sample big = ImageFolder(dir.str(), opt).get(0);
  CHECK(big.image.c == 3);
  CHECK(big.image.pixels.size() == 72);
  CHECK(big.image.at(0, 0, 0) == 255);  // the red corner stays red
  CHECK(big.image.at(2, 0, 0) == 0);
  opt.channels = 2;
  CHECK_THROWS_WITH(ImageFolder(dir.str(), opt), Contains("channels 2"));
}
