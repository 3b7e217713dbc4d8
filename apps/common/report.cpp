#include "common/report.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "common/escape.h"
#include "common/svg.h"
#include "minidl/core/file_io.h"
#include "minidl/data/image_io.h"

namespace minidl::app {

namespace {

std::string base64(const std::vector<std::uint8_t>& bytes) {
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += {table[v >> 18], table[(v >> 12) & 63], table[(v >> 6) & 63], table[v & 63]};
  }
  if (i + 1 == bytes.size()) {
    const unsigned v = bytes[i] << 16;
    out += {table[v >> 18], table[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == bytes.size()) {
    const unsigned v = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += {table[v >> 18], table[(v >> 12) & 63], table[(v >> 6) & 63], '='};
  }
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string pct(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100 * v);
  return buf;
}

}  // namespace

std::string evaluation_text(const EvalResult& r) {
  const auto& cm = r.confusion;
  std::ostringstream o;
  char buf[256];
  std::snprintf(buf, sizeof buf, "accuracy %.4f  macro-F1 %.4f  loss %.4f  (%lld images)\n", r.accuracy(), cm.macro_f1(),
                r.loss, static_cast<long long>(cm.total()));
  o << buf;
  o << "class        precision  recall     F1   support\n";
  for (std::int64_t c = 0; c < cm.num_classes(); ++c) {
    const ClassStats s = cm.class_stats(c);
    std::snprintf(buf, sizeof buf, "%-12s %9.3f %7.3f %6.3f %9lld\n", cm.class_names()[static_cast<std::size_t>(c)].c_str(),
                  s.precision, s.recall, s.f1, static_cast<long long>(s.support));
    o << buf;
  }
  o << "most confused:\n";
  for (const auto& p : cm.most_confused(5)) o << "  " << cm.describe(p) << "\n";
  return o.str();
}

void write_evaluation_files(const std::string& dir, const EvalResult& r, const std::string& what) {
  const auto& cm = r.confusion;
  write_file_atomic(dir + "/confusion_counts.csv", cm.counts_csv());
  write_file_atomic(dir + "/confusion_normalized.csv", cm.normalized_csv());
  write_file_atomic(dir + "/per_class.csv", cm.per_class_csv());
  std::string preds = "index,label,predicted,confidence\n";
  for (const auto& p : r.predictions)
    preds += std::to_string(p.index) + "," + std::to_string(p.label) + "," + std::to_string(p.predicted) + "," +
             std::to_string(p.confidence) + "\n";
  write_file_atomic(dir + "/predictions.csv", preds);
  write_file_atomic(dir + "/confusion_matrix.svg", cm.svg("Confusion matrix (" + what + ", row-normalised)"));
  nlohmann::json j;
  j["data"] = what;
  j["images"] = cm.total();
  j["accuracy"] = r.accuracy();
  j["macro_f1"] = cm.macro_f1();
  j["loss"] = r.loss;
  for (std::int64_t c = 0; c < cm.num_classes(); ++c) {
    const ClassStats s = cm.class_stats(c);
    j["per_class"][printable(cm.class_names()[static_cast<std::size_t>(c)])] = {
        {"precision", s.precision}, {"recall", s.recall}, {"f1", s.f1}, {"support", s.support}};
  }
  for (const auto& p : cm.most_confused(10))
    j["most_confused"].push_back({{"true", printable(cm.class_names()[static_cast<std::size_t>(p.true_class)])},
                                  {"predicted", printable(cm.class_names()[static_cast<std::size_t>(p.predicted)])},
                                  {"count", p.count},
                                  {"fraction_of_true", p.fraction_of_true},
                                  {"text", cm.describe(p)}});
  write_file_atomic(dir + "/summary.json", j.dump(2) + "\n");
}

void write_report(const std::string& path, const nlohmann::json& config, const std::vector<EpochMetrics>& history,
                  const EvalResult& eval, const data::Dataset& dataset, const std::string& curves_svg_path) {
  const auto& cm = eval.confusion;
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>minidl run report</title>\n"
       "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
       "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}"
       "th{background:#f3f3f3}td:first-child{text-align:left}.grid{display:flex;flex-wrap:wrap;gap:10px}"
       ".cell{text-align:center;font-size:12px;width:110px}.cell img{width:96px;height:96px;image-rendering:pixelated;"
       "border:1px solid #999}code{background:#f3f3f3;padding:1px 4px}</style></head><body>\n";
  h << "<h1>minidl run report</h1>\n";
  h << "<p>Best model on the validation set: accuracy <b>" << pct(eval.accuracy()) << "</b>, macro-F1 <b>"
    << pct(cm.macro_f1()) << "</b>, loss " << eval.loss << " (" << cm.total() << " images).</p>\n";

  h << "<h2>Curves</h2>\n" << read_file(curves_svg_path) << "\n";
  h << "<table><tr><th>epoch</th><th>train loss</th><th>train acc</th><th>val loss</th><th>val acc</th><th>lr</th>"
       "<th>images/s</th></tr>\n";
  char buf[256];
  for (const auto& m : history) {
    std::snprintf(buf, sizeof buf, "<tr><td>%lld</td><td>%.4f</td><td>%.3f</td><td>%.4f</td><td>%.3f</td><td>%.3g</td><td>%.0f</td></tr>\n",
                  static_cast<long long>(m.epoch), m.train_loss, m.train_acc, m.val_loss, m.val_acc, m.lr, m.images_per_sec);
    h << buf;
  }
  h << "</table>\n";

  h << "<h2>Confusion matrix</h2>\n" << cm.svg("Confusion matrix (validation, row-normalised)") << "\n";
  h << "<h3>Per class</h3>\n<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>\n";
  for (std::int64_t c = 0; c < cm.num_classes(); ++c) {
    const ClassStats s = cm.class_stats(c);
    std::snprintf(buf, sizeof buf, "<td>%.3f</td><td>%.3f</td><td>%.3f</td><td>%lld</td></tr>\n", s.precision, s.recall,
                  s.f1, static_cast<long long>(s.support));
    h << "<tr><td>" << xml_escape(printable(cm.class_names()[static_cast<std::size_t>(c)])) << "</td>" << buf;
  }
  h << "</table>\n<h3>Most confused</h3>\n<ul>\n";
  for (const auto& p : cm.most_confused(6)) h << "<li>" << xml_escape(cm.describe(p)) << "</li>\n";
  h << "</ul>\n";

  // Misclassified images, most confident mistakes first: those say most about the model.
  std::vector<Prediction> wrong;
  for (const auto& p : eval.predictions)
    if (p.predicted != p.label) wrong.push_back(p);
  std::sort(wrong.begin(), wrong.end(), [](const Prediction& a, const Prediction& b) { return a.confidence > b.confidence; });
  if (wrong.size() > 48) wrong.resize(48);
  h << "<h2>Misclassified validation images</h2>\n<p>The " << wrong.size()
    << " most confident mistakes (true &rarr; predicted, confidence).</p>\n<div class=\"grid\">\n";
  const auto& names = cm.class_names();
  for (const auto& p : wrong) {
    const data::Sample s = dataset.get(p.index);
    h << "<div class=\"cell\"><img src=\"data:image/png;base64," << base64(data::encode_png(s.image)) << "\"><br>"
      << xml_escape(printable(names[static_cast<std::size_t>(p.label)])) << " &rarr; "
      << xml_escape(printable(names[static_cast<std::size_t>(p.predicted)])) << " (" << pct(p.confidence) << ")</div>\n";
  }
  h << "</div>\n<h2>Configuration</h2>\n<pre>" << xml_escape(config.dump(2)) << "</pre>\n</body></html>\n";
  write_file_atomic(path, h.str());
}

}  // namespace minidl::app
