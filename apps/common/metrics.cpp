#include "common/metrics.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "common/escape.h"
#include "common/svg.h"
#include "minidl/base/error.h"

namespace minidl::app {

ConfusionMatrix::ConfusionMatrix(std::vector<std::string> class_names)
    : names_(std::move(class_names)), n_(static_cast<std::int64_t>(names_.size())),
      counts_(static_cast<std::size_t>(n_ * n_), 0) {}

void ConfusionMatrix::add(std::int64_t t, std::int64_t p) {
  MINIDL_CHECK(t >= 0 && t < n_ && p >= 0 && p < n_, "confusion matrix: class ", t, " or prediction ", p,
               " outside [0, ", n_, ")");
  ++counts_[static_cast<std::size_t>(t * n_ + p)];
  ++total_;
}

double ConfusionMatrix::accuracy() const {
  std::int64_t right = 0;
  for (std::int64_t c = 0; c < n_; ++c) right += count(c, c);
  return total_ ? static_cast<double>(right) / static_cast<double>(total_) : 0.0;
}

ClassStats ConfusionMatrix::class_stats(std::int64_t c) const {
  std::int64_t predicted = 0, support = 0;
  for (std::int64_t k = 0; k < n_; ++k) {
    predicted += count(k, c);
    support += count(c, k);
  }
  ClassStats s;
  s.support = support;
  s.precision = predicted ? static_cast<double>(count(c, c)) / static_cast<double>(predicted) : 0.0;
  s.recall = support ? static_cast<double>(count(c, c)) / static_cast<double>(support) : 0.0;
  s.f1 = s.precision + s.recall > 0 ? 2 * s.precision * s.recall / (s.precision + s.recall) : 0.0;
  return s;
}

double ConfusionMatrix::macro_f1() const {
  double sum = 0;
  int classes = 0;
  for (std::int64_t c = 0; c < n_; ++c) {
    std::int64_t predicted = 0;
    for (std::int64_t k = 0; k < n_; ++k) predicted += count(k, c);
    const ClassStats s = class_stats(c);
    if (s.support == 0 && predicted == 0) continue;
    sum += s.f1;
    ++classes;
  }
  return classes ? sum / classes : 0.0;
}

std::vector<ConfusedPair> ConfusionMatrix::most_confused(std::size_t k) const {
  std::vector<ConfusedPair> pairs;
  for (std::int64_t t = 0; t < n_; ++t) {
    const std::int64_t support = class_stats(t).support;
    for (std::int64_t p = 0; p < n_; ++p)
      if (p != t && count(t, p) > 0)
        pairs.push_back({t, p, count(t, p), static_cast<double>(count(t, p)) / static_cast<double>(support)});
  }
  std::sort(pairs.begin(), pairs.end(), [](const ConfusedPair& a, const ConfusedPair& b) {
    if (a.fraction_of_true != b.fraction_of_true) return a.fraction_of_true > b.fraction_of_true;
    return a.count > b.count;
  });
  if (pairs.size() > k) pairs.resize(k);
  return pairs;
}

std::string ConfusionMatrix::describe(const ConfusedPair& p) const {
  char buf[128];
  const std::string t = printable(names_[static_cast<std::size_t>(p.true_class)]);
  std::snprintf(buf, sizeof buf, ": %.0f%% of ", 100 * p.fraction_of_true);
  std::string out = t + " predicted as " + printable(names_[static_cast<std::size_t>(p.predicted)]) + buf + t;
  std::snprintf(buf, sizeof buf, " (%lld of %lld)", static_cast<long long>(p.count),
                static_cast<long long>(class_stats(p.true_class).support));
  return out + buf;
}

std::string ConfusionMatrix::counts_csv() const {
  std::ostringstream o;
  o << "true\\predicted";
  for (const auto& n : names_) o << "," << csv_field(n);
  o << "\n";
  for (std::int64_t t = 0; t < n_; ++t) {
    o << csv_field(names_[static_cast<std::size_t>(t)]);
    for (std::int64_t p = 0; p < n_; ++p) o << "," << count(t, p);
    o << "\n";
  }
  return o.str();
}

std::string ConfusionMatrix::normalized_csv() const {
  std::ostringstream o;
  o << "true\\predicted";
  for (const auto& n : names_) o << "," << csv_field(n);
  o << "\n";
  char buf[32];
  for (std::int64_t t = 0; t < n_; ++t) {
    const std::int64_t support = class_stats(t).support;
    o << csv_field(names_[static_cast<std::size_t>(t)]);
    for (std::int64_t p = 0; p < n_; ++p) {
      std::snprintf(buf, sizeof buf, "%.4f", support ? static_cast<double>(count(t, p)) / static_cast<double>(support) : 0.0);
      o << "," << buf;
    }
    o << "\n";
  }
  return o.str();
}

std::string ConfusionMatrix::per_class_csv() const {
  std::ostringstream o;
  o << "class,precision,recall,f1,support\n";
  char buf[128];
  for (std::int64_t c = 0; c < n_; ++c) {
    const ClassStats s = class_stats(c);
    std::snprintf(buf, sizeof buf, "%.4f,%.4f,%.4f,%lld", s.precision, s.recall, s.f1, static_cast<long long>(s.support));
    o << csv_field(names_[static_cast<std::size_t>(c)]) << "," << buf << "\n";
  }
  return o.str();
}

std::string ConfusionMatrix::svg(const std::string& title) const {
  Heatmap h;
  h.title = title;
  for (const auto& n : names_) h.row_labels.push_back(printable(n));
  h.col_labels = h.row_labels;
  for (std::int64_t t = 0; t < n_; ++t) {
    const std::int64_t support = class_stats(t).support;
    std::vector<double> row;
    std::vector<std::string> text;
    for (std::int64_t p = 0; p < n_; ++p) {
      row.push_back(support ? static_cast<double>(count(t, p)) / static_cast<double>(support) : 0.0);
      text.push_back(std::to_string(count(t, p)));
    }
    h.values.push_back(row);
    h.cell_text.push_back(text);
  }
  const double size = 120 + 60.0 * static_cast<double>(n_);
  return svg_document(size, size, {heatmap_fragment(h, 0, 0, size, size)});
}

}  // namespace minidl::app
