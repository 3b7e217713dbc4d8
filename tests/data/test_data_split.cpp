// Stratified splits, subsets and samplers.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <numeric>
#include <set>

#include "minidl/data/sampler.h"
#include "minidl/data/split.h"
#include "test_data_helpers.h"

using namespace minidl;
using namespace minidl::data;

namespace {

// A data set that is only labels (class c has counts[c] samples), with 1x1 images holding the index.
class LabelsOnly : public Dataset {
 public:
  explicit LabelsOnly(std::vector<std::int64_t> counts, std::int64_t classes = -1) {
    for (std::size_t c = 0; c < counts.size(); ++c)
      for (std::int64_t k = 0; k < counts[c]; ++k) labels_.push_back(static_cast<std::int64_t>(c));
    // Interleave so that classes are not in blocks.
    std::vector<std::int64_t> mixed;
    for (std::size_t i = 0; i < labels_.size(); ++i) mixed.push_back(labels_[(i * 7919) % labels_.size()]);
    labels_ = mixed;
    const std::int64_t k = classes > 0 ? classes : static_cast<std::int64_t>(counts.size());
    for (std::int64_t c = 0; c < k; ++c) names_.push_back("c" + std::to_string(c));
  }
  std::int64_t size() const override { return static_cast<std::int64_t>(labels_.size()); }
  Sample get(std::int64_t i) const override {
    check_index(i);
    return {GrayImage(1, 1, static_cast<std::uint8_t>(i % 256)), labels_[i]};
  }
  std::int64_t label(std::int64_t i) const override {
    check_index(i);
    return labels_[i];
  }
  const std::vector<std::string>& class_names() const override { return names_; }
  std::int64_t height() const override { return 1; }
  std::int64_t width() const override { return 1; }
  std::string description() const override { return "labels-only"; }

 private:
  std::vector<std::int64_t> labels_;
  std::vector<std::string> names_;
};

}  // namespace

TEST_CASE("stratified split keeps each class's share, is seeded and disjoint", "[data]") {
  auto d = std::make_shared<LabelsOnly>(std::vector<std::int64_t>{500, 15, 520, 900, 600, 400, 620});
  const SplitIndices s = stratified_split(*d, 0.1, 42);
  CHECK(s.train.size() + s.val.size() == static_cast<std::size_t>(d->size()));
  std::vector<std::int64_t> all = s.train;
  all.insert(all.end(), s.val.begin(), s.val.end());
  std::sort(all.begin(), all.end());
  std::vector<std::int64_t> expect(d->size());
  std::iota(expect.begin(), expect.end(), 0);
  CHECK(all == expect);  // disjoint and complete
  std::map<std::int64_t, int> val_counts;
  for (auto i : s.val) ++val_counts[d->label(i)];
  CHECK(val_counts[0] == 50);
  CHECK(val_counts[1] == 2);  // round(1.5)
  CHECK(val_counts[3] == 90);
  CHECK(stratified_split(*d, 0.1, 42).val == s.val);
  CHECK(stratified_split(*d, 0.1, 43).val != s.val);
  // A class of 2 keeps one on each side; a class of 1 stays in train.
  auto tiny = std::make_shared<LabelsOnly>(std::vector<std::int64_t>{2, 1, 40});
  const SplitIndices t = stratified_split(*tiny, 0.01, 1);
  std::map<std::int64_t, int> tv;
  for (auto i : t.val) ++tv[tiny->label(i)];
  CHECK(tv[0] == 1);
  CHECK(tv[1] == 0);
  CHECK(tv[2] == 1);
  CHECK_THROWS_AS(stratified_split(*d, 1.5, 1), Error);
}

TEST_CASE("a subset is a view of chosen indices", "[data]") {
  auto d = std::make_shared<LabelsOnly>(std::vector<std::int64_t>{5, 5});
  Subset s(d, {7, 2, 9}, "mine");
  CHECK(s.size() == 3);
  CHECK(s.get(0).image.at(0, 0) == 7);
  CHECK(s.label(1) == d->label(2));
  CHECK(s.class_names() == d->class_names());
  CHECK_THAT(s.description(), Catch::Matchers::Contains("mine (3 images) of labels-only"));
  CHECK_THROWS_AS(s.get(3), Error);
  CHECK_THROWS_AS(Subset(d, {0, 10}), Error);
}

TEST_CASE("random sampler: a permutation per epoch, seeded", "[data]") {
  RandomSampler r(1000, 7);
  const auto e0 = r.epoch_order(0), e1 = r.epoch_order(1);
  auto sorted = e0;
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::int64_t> expect(1000);
  std::iota(expect.begin(), expect.end(), 0);
  CHECK(sorted == expect);
  CHECK(e0 != expect);
  CHECK(e0 != e1);
  CHECK(RandomSampler(1000, 7).epoch_order(1) == e1);
  CHECK(RandomSampler(1000, 8).epoch_order(1) != e1);
  CHECK(SequentialSampler(5).epoch_order(3) == std::vector<std::int64_t>{0, 1, 2, 3, 4});
}

TEST_CASE("class-balanced sampler draws classes equally and rare samples evenly", "[data]") {
  // Classes of 900, 15 and 300 samples, and an empty class 3.
  auto d = std::make_shared<LabelsOnly>(std::vector<std::int64_t>{900, 15, 300, 0}, 4);
  ClassBalancedSampler s(d->labels(), 4, 3);
  CHECK(s.epoch_size() == 1215);
  std::map<std::int64_t, int> uses;
  for (std::int64_t epoch = 0; epoch < 3; ++epoch) {
    const auto order = s.epoch_order(epoch);
    REQUIRE(order.size() == 1215u);
    std::map<std::int64_t, int> per_class;
    for (auto i : order) {
      ++per_class[d->label(i)];
      if (d->label(i) == 1) ++uses[i];
    }
    CHECK(per_class[0] == 405);  // 1215 / 3 non-empty classes
    CHECK(per_class[1] == 405);
    CHECK(per_class[2] == 405);
    CHECK(per_class.count(3) == 0);
  }
  // 3 epochs x 405 draws over 15 rare samples: 81 each, give or take the pass boundaries.
  REQUIRE(uses.size() == 15u);
  for (auto& [i, n] : uses) CHECK(std::abs(n - 81) <= 2);
  CHECK(s.epoch_order(1) == ClassBalancedSampler(d->labels(), 4, 3).epoch_order(1));
  CHECK(s.epoch_order(1) != s.epoch_order(2));
  CHECK_THROWS_AS(ClassBalancedSampler({0, 5}, 3, 1), Error);
}
