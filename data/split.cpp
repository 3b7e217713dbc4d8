#include "minidl/data/split.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>

#include "minidl/base/error.h"
#include "minidl/data/random.h"

namespace minidl::data {

Subset::Subset(DatasetPtr base, std::vector<std::int64_t> indices, std::string name)
    : base_(std::move(base)), indices_(std::move(indices)), name_(std::move(name)) {
  MINIDL_CHECK(base_ != nullptr, "Subset: no base data set");
  for (std::size_t k = 0; k < indices_.size(); ++k)
    MINIDL_CHECK(indices_[k] >= 0 && indices_[k] < base_->size(), "Subset '", name_, "': index ", indices_[k],
                 " (entry ", k, ") out of range [0, ", base_->size(), ") of ", base_->description());
}

Sample Subset::get(std::int64_t i) const {
  check_index(i);
  return base_->get(indices_[i]);
}

std::int64_t Subset::label(std::int64_t i) const {
  check_index(i);
  return base_->label(indices_[i]);
}

std::string Subset::description() const {
  std::ostringstream os;
  os << name_ << " (" << size() << " images) of " << base_->description();
  return os.str();
}

SplitIndices stratified_split(const Dataset& dataset, double val_fraction, std::uint64_t seed) {
  std::vector<std::int64_t> all(static_cast<std::size_t>(dataset.size()));
  std::iota(all.begin(), all.end(), 0);
  return stratified_split(dataset, all, val_fraction, seed);
}

SplitIndices stratified_split(const Dataset& dataset, const std::vector<std::int64_t>& indices, double val_fraction,
                              std::uint64_t seed) {
  MINIDL_CHECK(val_fraction >= 0.0 && val_fraction <= 1.0, "stratified_split: validation fraction ", val_fraction,
               " is not in [0, 1]");
  const std::int64_t k = dataset.num_classes();
  std::vector<std::vector<std::int64_t>> by_class(static_cast<std::size_t>(k));
  for (std::int64_t i : indices) {
    const std::int64_t l = dataset.label(i);
    MINIDL_CHECK(l >= 0 && l < k, dataset.description(), ": sample ", i, " has label ", l, " outside [0, ", k, ")");
    by_class[l].push_back(i);
  }
  SplitIndices out;
  for (std::int64_t c = 0; c < k; ++c) {
    auto& members = by_class[c];
    const auto n = static_cast<std::int64_t>(members.size());
    // Fisher-Yates with a stream per class, so one class's size does not move another's split.
    SampleRng rng(seed, 0x5b117, static_cast<std::uint64_t>(c));
    for (std::int64_t i = n - 1; i > 0; --i) std::swap(members[i], members[rng.below(static_cast<std::uint64_t>(i + 1))]);
    auto n_val = static_cast<std::int64_t>(std::llround(val_fraction * static_cast<double>(n)));
    if (val_fraction > 0.0 && val_fraction < 1.0 && n >= 2) n_val = std::clamp<std::int64_t>(n_val, 1, n - 1);
    out.val.insert(out.val.end(), members.begin(), members.begin() + n_val);
    out.train.insert(out.train.end(), members.begin() + n_val, members.end());
  }
  std::sort(out.train.begin(), out.train.end());
  std::sort(out.val.begin(), out.val.end());
  return out;
}

std::vector<std::int64_t> stratified_head(const Dataset& dataset, std::int64_t n) {
  const std::int64_t size = dataset.size(), k = dataset.num_classes();
  std::vector<std::int64_t> all(static_cast<std::size_t>(size));
  std::iota(all.begin(), all.end(), 0);
  if (n >= size) return all;
  MINIDL_CHECK(n >= 0, "stratified_head: ", n, " samples asked for");
  std::vector<std::vector<std::int64_t>> by_class(static_cast<std::size_t>(k));
  for (std::int64_t i = 0; i < size; ++i) {
    const std::int64_t l = dataset.label(i);
    MINIDL_CHECK(l >= 0 && l < k, dataset.description(), ": sample ", i, " has label ", l, " outside [0, ", k, ")");
    by_class[static_cast<std::size_t>(l)].push_back(i);
  }
  // Quotas by largest remainders (ties to the lower class), so that they add up to n exactly.
  std::vector<std::int64_t> quota(static_cast<std::size_t>(k));
  std::vector<std::pair<double, std::int64_t>> remainders;
  std::int64_t given = 0, present = 0;
  for (std::int64_t c = 0; c < k; ++c) {
    const double share = static_cast<double>(n) * static_cast<double>(by_class[c].size()) / static_cast<double>(size);
    quota[c] = static_cast<std::int64_t>(share);
    given += quota[c];
    present += !by_class[c].empty();
    remainders.push_back({share - static_cast<double>(quota[c]), c});
  }
  std::stable_sort(remainders.begin(), remainders.end(), [](auto& a, auto& b) { return a.first > b.first; });
  for (std::size_t r = 0; given < n; ++r, ++given) ++quota[remainders[r % remainders.size()].second];
  // A class present but rounded to nothing takes one from the largest quota, when n allows.
  if (n >= present)
    for (std::int64_t c = 0; c < k; ++c)
      if (quota[c] == 0 && !by_class[c].empty()) {
        ++quota[c];
        --*std::max_element(quota.begin(), quota.end());
      }
  std::vector<std::int64_t> out;
  for (std::int64_t c = 0; c < k; ++c)
    out.insert(out.end(), by_class[c].begin(), by_class[c].begin() + std::min<std::int64_t>(quota[c], by_class[c].size()));
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace minidl::data
