// Splits: a Subset is a view of some indices of another data set, and stratified_split makes
// a seeded train/validation split that keeps every class's share (used where the data has no
// split of its own).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "minidl/data/dataset.h"

namespace minidl::data {

class Subset : public Dataset {
 public:
  // Every index must be in [0, base->size()); throws minidl::Error otherwise.
  Subset(DatasetPtr base, std::vector<std::int64_t> indices, std::string name = "subset");

  std::int64_t size() const override { return static_cast<std::int64_t>(indices_.size()); }
  Sample get(std::int64_t i) const override;
  std::int64_t label(std::int64_t i) const override;
  const std::vector<std::string>& class_names() const override { return base_->class_names(); }
  std::int64_t height() const override { return base_->height(); }
  std::int64_t width() const override { return base_->width(); }
  std::int64_t channels() const override { return base_->channels(); }
  Shape sample_shape() const override { return base_->sample_shape(); }
  std::string description() const override;

  const DatasetPtr& base() const { return base_; }
  const std::vector<std::int64_t>& indices() const { return indices_; }

 private:
  DatasetPtr base_;
  std::vector<std::int64_t> indices_;
  std::string name_;
};

struct SplitIndices {
  std::vector<std::int64_t> train, val;  // each sorted ascending
};

// Puts round(val_fraction * n_c) of each class's n_c samples (chosen by a shuffle seeded with
// `seed`) in val and the rest in train. A class with at least 2 samples keeps at least one on
// each side when 0 < val_fraction < 1. `indices` limits the split to those samples of the data
// set (default: all).
SplitIndices stratified_split(const Dataset& dataset, double val_fraction, std::uint64_t seed);
SplitIndices stratified_split(const Dataset& dataset, const std::vector<std::int64_t>& indices, double val_fraction,
                              std::uint64_t seed);

// n of the data set's samples in its class balance, for a smaller training set that still has
// every class: class c gets n * n_c / size samples (rounded by largest remainders, each class
// present getting at least one when n is at least the number of such classes), the first of
// that class in index order. Sorted ascending; all samples when n >= size.
std::vector<std::int64_t> stratified_head(const Dataset& dataset, std::int64_t n);

}  // namespace minidl::data
