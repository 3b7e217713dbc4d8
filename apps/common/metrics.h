// Classification metrics: the confusion matrix and what is read off it (accuracy, per-class
// precision / recall / F1 / support, macro-F1, the most-confused pairs).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace minidl::app {

struct ClassStats {
  double precision = 0, recall = 0, f1 = 0;
  std::int64_t support = 0;
};

struct ConfusedPair {
  std::int64_t true_class, predicted;
  std::int64_t count;
  double fraction_of_true;  // count / support of the true class
};

class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(std::vector<std::string> class_names);

  void add(std::int64_t true_class, std::int64_t predicted);
  std::int64_t count(std::int64_t t, std::int64_t p) const { return counts_[static_cast<std::size_t>(t * n_ + p)]; }
  std::int64_t total() const { return total_; }
  std::int64_t num_classes() const { return n_; }
  const std::vector<std::string>& class_names() const { return names_; }

  double accuracy() const;
  ClassStats class_stats(std::int64_t c) const;
  // Mean F1 over classes that occur (in truth or prediction).
  double macro_f1() const;
  // Off-diagonal cells, most frequent first (by fraction of the true class, then count).
  std::vector<ConfusedPair> most_confused(std::size_t k) const;
  // "Fear predicted as Sad: 14% of Fear (12 of 86)", names printable (escape.h)
  std::string describe(const ConfusedPair& p) const;

  // Rows are true classes, columns predictions; a header row and column of class names (as
  // bytes, quoted per RFC 4180 where they hold a comma, quote or line break).
  std::string counts_csv() const;
  std::string normalized_csv() const;  // each row divided by its support
  // A heatmap of the row-normalised matrix with counts on the cells.
  std::string svg(const std::string& title) const;
  // Per-class table as CSV: class,precision,recall,f1,support.
  std::string per_class_csv() const;

 private:
  std::vector<std::string> names_;
  std::int64_t n_;
  std::vector<std::int64_t> counts_;
  std::int64_t total_ = 0;
};

}  // namespace minidl::app
