#include "minidl/data/dataset.h"

#include "minidl/base/error.h"

namespace minidl::data {

std::vector<std::int64_t> Dataset::labels() const {
  std::vector<std::int64_t> out(static_cast<std::size_t>(size()));
  for (std::int64_t i = 0; i < size(); ++i) out[i] = label(i);
  return out;
}

std::vector<std::int64_t> Dataset::class_counts() const {
  std::vector<std::int64_t> counts(static_cast<std::size_t>(num_classes()), 0);
  for (std::int64_t i = 0; i < size(); ++i) {
    const std::int64_t l = label(i);
    MINIDL_CHECK(l >= 0 && l < num_classes(), description(), ": sample ", i, " has label ", l, " outside [0, ",
                 num_classes(), ")");
    ++counts[l];
  }
  return counts;
}

void Dataset::check_index(std::int64_t i) const {
  MINIDL_CHECK(i >= 0 && i < size(), description(), ": index ", i, " out of range [0, ", size(), ")");
}

const std::vector<std::string>& fer_class_names() {
  static const std::vector<std::string> names = {"Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"};
  return names;
}

}  // namespace minidl::data
