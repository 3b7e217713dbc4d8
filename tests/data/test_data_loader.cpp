// The DataLoader: batching, order, normalisation, determinism across thread counts,
// augmentation, and errors from workers.
#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <set>

#include "minidl/data/dataloader.h"
#include "minidl/data/split.h"
#include "minidl/data/synthetic_faces.h"
#include "test_data_helpers.h"

using namespace minidl;
using namespace minidl::data;
using namespace minidl::data::testing;
using Catch::Matchers::Contains;

namespace {

// n images of h x w whose pixels encode the index (pixel k of image i = (i + k) % 256),
// labels i % classes; optionally broken at one index.
class Counting : public Dataset {
 public:
  Counting(std::int64_t n, std::int64_t h, std::int64_t w, std::int64_t classes = 3)
      : n_(n), h_(h), w_(w) {
    for (std::int64_t c = 0; c < classes; ++c) names_.push_back("c" + std::to_string(c));
  }
  std::int64_t size() const override { return n_; }
  Sample get(std::int64_t i) const override {
    check_index(i);
    if (i == throw_at) throw DataError("counting: sample " + std::to_string(i) + " is broken");
    Sample s;
    s.image = GrayImage(i == wrong_size_at ? h_ + 1 : h_, w_);
    for (std::size_t k = 0; k < s.image.pixels.size(); ++k) s.image.pixels[k] = static_cast<std::uint8_t>((i + k) % 256);
    s.label = i == bad_label_at ? 99 : i % num_classes();
    return s;
  }
  std::int64_t label(std::int64_t i) const override { return i % num_classes(); }
  const std::vector<std::string>& class_names() const override { return names_; }
  std::int64_t height() const override { return h_; }
  std::int64_t width() const override { return w_; }
  std::string description() const override { return "counting"; }

  std::int64_t throw_at = -1, wrong_size_at = -1, bad_label_at = -1;

 private:
  std::int64_t n_, h_, w_;
  std::vector<std::string> names_;
};

bool same_batches(const std::vector<Batch>& a, const std::vector<Batch>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t k = 0; k < a.size(); ++k) {
    if (a[k].indices != b[k].indices) return false;
    if (a[k].images.to_vector<float>() != b[k].images.to_vector<float>()) return false;
    if (a[k].labels.to_vector<std::int64_t>() != b[k].labels.to_vector<std::int64_t>()) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("loader: batches cover the epoch once, with shapes, labels and pixel/255", "[data]") {
  auto d = std::make_shared<Counting>(103, 4, 5);
  DataLoaderOptions o;
  o.batch_size = 10;
  o.num_workers = 2;
  o.seed = 5;
  DataLoader loader(d, o);
  CHECK(loader.num_batches() == 11);
  const auto batches = run_epoch(loader, 0);
  REQUIRE(batches.size() == 11u);
  std::multiset<std::int64_t> seen;
  for (std::size_t k = 0; k < batches.size(); ++k) {
    const Batch& b = batches[k];
    const std::int64_t n = k < 10 ? 10 : 3;
    REQUIRE(b.size() == n);
    CHECK(b.images.shape() == Shape{n, 1, 4, 5});
    CHECK(b.images.dtype() == DType::Float32);
    CHECK(b.labels.shape() == Shape{n});
    CHECK(b.labels.dtype() == DType::Int64);
    const auto img = b.images.to_vector<float>();
    const auto lab = b.labels.to_vector<std::int64_t>();
    for (std::int64_t j = 0; j < n; ++j) {
      const std::int64_t i = b.indices[j];
      seen.insert(i);
      REQUIRE(lab[j] == i % 3);
      for (std::int64_t q = 0; q < 20; ++q) REQUIRE(img[j * 20 + q] == Approx(static_cast<float>((i + q) % 256) / 255.f).epsilon(1e-6));
    }
  }
  std::multiset<std::int64_t> all;
  for (std::int64_t i = 0; i < 103; ++i) all.insert(i);
  CHECK(seen == all);
  // Shuffled: not in dataset order; another epoch, another order.
  CHECK(batches[0].indices != std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  CHECK(run_epoch(loader, 1)[0].indices != batches[0].indices);
}

TEST_CASE("loader: drop_last, no shuffle, mean/std", "[data]") {
  auto d = std::make_shared<Counting>(25, 2, 2);
  DataLoaderOptions o = in_order(10, 1);
  o.drop_last = true;
  o.mean = 0.5f;
  o.std = 0.25f;
  DataLoader loader(d, o);
  CHECK(loader.num_batches() == 2);
  const auto batches = run_epoch(loader, 0);
  REQUIRE(batches.size() == 2u);
  CHECK(batches[1].indices == std::vector<std::int64_t>{10, 11, 12, 13, 14, 15, 16, 17, 18, 19});
  const auto img = batches[0].images.to_vector<float>();
  // Image 3, pixel 2 holds 5: (5/255 - 0.5) / 0.25.
  CHECK(img[3 * 4 + 2] == Approx((5.f / 255.f - 0.5f) / 0.25f));
}

TEST_CASE("loader: the same seed gives the same batches with any number of workers", "[data]") {
  SyntheticFacesOptions so;
  so.size = 60;
  so.height = so.width = 24;
  auto d = std::make_shared<SyntheticFaces>(so);
  DataLoaderOptions o;
  o.batch_size = 8;
  o.seed = 11;
  o.augment = true;
  o.prefetch = 2;
  std::vector<std::vector<Batch>> runs;
  for (int workers : {0, 1, 3}) {
    o.num_workers = workers;
    DataLoader loader(d, o);
    runs.push_back(run_epoch(loader, 2));
  }
  CHECK(same_batches(runs[0], runs[1]));
  CHECK(same_batches(runs[0], runs[2]));
  o.seed = 12;
  DataLoader other(d, o);
  CHECK_FALSE(same_batches(runs[0], run_epoch(other, 2)));
}

TEST_CASE("loader: augmentation is the warp drawn for (seed, epoch, index)", "[data]") {
  auto d = std::make_shared<Counting>(12, 9, 11);
  DataLoaderOptions o;
  o.batch_size = 4;
  o.seed = 3;
  o.augment = true;
  o.augment_options.fill = 17.f;
  DataLoader loader(d, o);
  const auto batches = run_epoch(loader, 4);
  int changed = 0;
  for (const Batch& b : batches) {
    const auto img = b.images.to_vector<float>();
    for (std::int64_t j = 0; j < b.size(); ++j) {
      const std::int64_t i = b.indices[j];
      std::vector<float> expect(99);
      augment_image(d->get(i).image, sample_augment(o.augment_options, 3, 4, i, 9, 11), 17.f, expect.data());
      for (std::int64_t q = 0; q < 99; ++q) REQUIRE(img[j * 99 + q] == Approx(expect[q] / 255.f).margin(1e-6));
      changed += expect[0] != static_cast<float>(d->get(i).image.pixels[0]);
    }
  }
  CHECK(changed > 0);
}

TEST_CASE("loader: deferred augmentation returns the warps instead", "[data]") {
  auto d = std::make_shared<Counting>(6, 8, 8);
  DataLoaderOptions o;
  o.batch_size = 6;
  o.augment = true;
  o.defer_augment = true;
  o.mean = 0.5f;
  o.std = 0.5f;
  o.augment_options.fill = 255.f;
  o.num_workers = 0;
  DataLoader loader(d, o);
  const auto batches = run_epoch(loader, 0);
  REQUIRE(batches.size() == 1u);
  const Batch& b = batches[0];
  REQUIRE(b.warps.size() == 6u);
  CHECK(b.warp_fill == Approx(1.f));
  for (std::int64_t j = 0; j < 6; ++j) {
    const AffineMatrix m =
        affine_matrix(sample_augment(o.augment_options, o.seed, 0, b.indices[j], 8, 8), 8, 8);
    for (int k = 0; k < 6; ++k) CHECK(b.warps[j].m[k] == m.m[k]);
  }
  // Images are unwarped: pixel 0 of image i is i.
  const auto img = b.images.to_vector<float>();
  CHECK(img[0] == Approx((b.indices[0] / 255.f - 0.5f) / 0.5f));
}

TEST_CASE("loader: class-balanced sampling", "[data]") {
  // Labels: 0 for 90% of the samples, 1 and 2 rare.
  auto base = std::make_shared<Counting>(300, 2, 2, 3);
  std::vector<std::int64_t> idx;
  for (std::int64_t i = 0; i < 300; ++i)
    if (i % 3 == 0 || i % 30 == 1 || i % 30 == 2) idx.push_back(i);
  auto d = std::make_shared<Subset>(base, idx);
  DataLoaderOptions o;
  o.batch_size = 16;
  o.class_balanced = true;
  DataLoader loader(d, o);
  std::map<std::int64_t, int> counts;
  for (const Batch& b : run_epoch(loader, 0))
    for (auto l : b.labels.to_vector<std::int64_t>()) ++counts[l];
  CHECK(counts[0] == 40);
  CHECK(counts[1] == 40);
  CHECK(counts[2] == 40);
}

TEST_CASE("loader: errors in workers reach the caller, in order", "[data]") {
  auto d = std::make_shared<Counting>(40, 3, 3);
  DataLoaderOptions o;
  o.batch_size = 5;
  o.shuffle = false;
  for (int workers : {0, 2}) {
    o.num_workers = workers;
    d->throw_at = 23;  // in batch 4
    {
      DataLoader loader(d, o);
      loader.start_epoch(0);
      Batch b;
      for (int k = 0; k < 4; ++k) REQUIRE(loader.next(b));
      CHECK_THAT(data_error_of([&] { loader.next(b); }), Contains("sample 23 is broken"));
    }
    d->throw_at = -1;
    d->wrong_size_at = 7;
    {
      DataLoader loader(d, o);
      loader.start_epoch(0);
      Batch b;
      REQUIRE(loader.next(b));
      CHECK_THAT(data_error_of([&] { loader.next(b); }), Contains("sample 7 is a 4x3 image") && Contains("3x3"));
    }
    d->wrong_size_at = -1;
    d->bad_label_at = 2;
    {
      DataLoader loader(d, o);
      CHECK_THAT(first_batch_error(loader), Contains("sample 2 has label 99") && Contains("3 classes"));
    }
    d->bad_label_at = -1;
  }
}

TEST_CASE("loader: restarting an epoch, leaving early, bad options", "[data]") {
  auto d = std::make_shared<Counting>(50, 6, 6);
  DataLoaderOptions o;
  o.batch_size = 4;
  o.num_workers = 2;
  o.prefetch = 3;
  {
    DataLoader loader(d, o);
    Batch b;
    CHECK_THROWS_AS(loader.next(b), Error);  // no epoch started
    loader.start_epoch(0);
    REQUIRE(loader.next(b));
    const auto first = b.indices;
    loader.start_epoch(0);  // restart mid-epoch: the same first batch again
    REQUIRE(loader.next(b));
    CHECK(b.indices == first);
    CHECK(run_epoch(loader, 0).size() == 13u);
    loader.start_epoch(1);
    REQUIRE(loader.next(b));
  }  // destroyed with batches in flight: must not hang
  CHECK_THROWS_AS(DataLoader(d, [] { DataLoaderOptions x; x.batch_size = 0; return x; }()), Error);
  CHECK_THROWS_AS(DataLoader(d, [] { DataLoaderOptions x; x.std = 0.f; return x; }()), Error);
  CHECK_THROWS_AS(DataLoader(nullptr, o), Error);
  auto empty = std::make_shared<Subset>(d, std::vector<std::int64_t>{});
  CHECK_THAT(data_error_of([&] { DataLoader(empty, o); }), Contains("empty data set"));
}
