#include "common/predict_output.h"

#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "common/escape.h"

namespace minidl::app {

PredictionWriter::PredictionWriter(std::vector<std::string> class_names, std::size_t top_k, bool json,
                                   const std::string& csv_path)
    : names_(std::move(class_names)), top_k_(std::min(top_k, names_.size())), json_(json) {
  if (json_) std::fputs("[", stdout);
  if (!csv_path.empty()) {
    csv_ = std::make_unique<AtomicFile>(csv_path, "predict --csv");
    std::string header = "path,status,face,x,y,width,height,label";
    for (const auto& n : names_) header += "," + csv_field("p_" + n);
    header += "\n";
    csv_->write(header.data(), header.size());
  }
}

std::vector<std::pair<double, std::size_t>> PredictionWriter::ranked(const std::vector<double>& probs) const {
  std::vector<std::pair<double, std::size_t>> p;
  for (std::size_t c = 0; c < probs.size(); ++c) p.push_back({probs[c], c});
  std::stable_sort(p.begin(), p.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  return p;
}

// {"prediction": ..., "class_index": ..., "top": [...], "probabilities": {...}} without braces.
std::string PredictionWriter::json_scores(const std::vector<double>& probs) const {
  const auto p = ranked(probs);
  nlohmann::json j;
  nlohmann::json top = nlohmann::json::array();
  for (std::size_t k = 0; k < top_k_; ++k) top.push_back({{"class", names_[p[k].second]}, {"probability", p[k].first}});
  nlohmann::json all = nlohmann::json::object();
  for (std::size_t c = 0; c < names_.size(); ++c) all[names_[c]] = probs[c];
  j["prediction"] = names_[p[0].second];
  j["class_index"] = p[0].second;
  j["top"] = top;
  j["probabilities"] = all;
  // A class name that is not UTF-8 (a class folder named in Latin-1) becomes U+FFFD here rather
  // than fail the output after the work is done; the exact bytes stay in the checkpoint.
  const std::string s = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return s.substr(1, s.size() - 2);
}

void PredictionWriter::text(const ImageResult& r) const {
  auto scores = [&](const std::vector<double>& probs) {
    const auto p = ranked(probs);
    std::printf("%s", names_[p[0].second].c_str());
    for (std::size_t k = 0; k < top_k_; ++k)
      std::printf("%s%s %.1f%%", k ? ", " : "  (", names_[p[k].second].c_str(), 100 * p[k].first);
    std::printf(")\n");
  };
  if (!r.error.empty()) return;  // reported on stderr when it was skipped
  if (!r.searched_faces) {
    std::printf("%s: ", r.path.c_str());
    scores(r.boxes.at(0).probs);
    return;
  }
  if (r.boxes.empty()) {
    std::printf("%s: no face found\n", r.path.c_str());
    return;
  }
  std::printf("%s: %zu face%s\n", r.path.c_str(), r.boxes.size(), r.boxes.size() == 1 ? "" : "s");
  for (std::size_t i = 0; i < r.boxes.size(); ++i) {
    const data::Rect& b = r.boxes[i].box;
    std::printf("  face %zu at x=%lld y=%lld %lldx%lld: ", i + 1, static_cast<long long>(b.x), static_cast<long long>(b.y),
                static_cast<long long>(b.width), static_cast<long long>(b.height));
    scores(r.boxes[i].probs);
  }
}

void PredictionWriter::csv(const ImageResult& r) {
  std::string rows;
  const std::string path = csv_field(r.path);
  auto row = [&](const std::string& status, const std::string& face, const data::Rect* b, const std::vector<double>* probs) {
    rows += path + "," + csv_field(status) + "," + face;
    if (b)
      rows += "," + std::to_string(b->x) + "," + std::to_string(b->y) + "," + std::to_string(b->width) + "," +
              std::to_string(b->height);
    else
      rows += ",,,,";
    if (probs) {
      rows += "," + csv_field(names_[ranked(*probs)[0].second]);
      char buf[32];
      for (double p : *probs) {
        std::snprintf(buf, sizeof buf, ",%.6g", p);
        rows += buf;
      }
    } else {
      rows += ",";
      rows += std::string(names_.size(), ',');
    }
    rows += "\n";
  };
  if (!r.error.empty())
    row("skipped: " + r.error, "", nullptr, nullptr);
  else if (r.searched_faces && r.boxes.empty())
    row("no face", "", nullptr, nullptr);
  else
    for (std::size_t i = 0; i < r.boxes.size(); ++i)
      row(r.searched_faces ? "face" : "image", r.searched_faces ? std::to_string(i + 1) : "", &r.boxes[i].box,
          &r.boxes[i].probs);
  csv_->write(rows.data(), rows.size());
}

void PredictionWriter::write(const ImageResult& r) {
  if (csv_) csv(r);
  if (!json_) {
    text(r);
    return;
  }
  std::string s = first_ ? "\n" : ",\n";
  first_ = false;
  bool exact = true;
  s += "  {\"image\": " + json_string(r.path, &exact);
  // A name that is not UTF-8 (a 0xFF byte) also goes out as its exact bytes.
  if (!exact) s += ", \"image_bytes_hex\": \"" + hex_bytes(r.path) + "\"";
  if (!r.error.empty()) {
    s += ", \"error\": " + json_string(r.error) + "}";
  } else {
    s += ", \"width\": " + std::to_string(r.width) + ", \"height\": " + std::to_string(r.height);
    if (!r.searched_faces) {
      s += ", " + json_scores(r.boxes.at(0).probs) + "}";
    } else {
      s += ", \"faces\": [";
      for (std::size_t i = 0; i < r.boxes.size(); ++i) {
        const data::Rect& b = r.boxes[i].box;
        s += std::string(i ? ", " : "") + "{\"box\": {\"x\": " + std::to_string(b.x) + ", \"y\": " + std::to_string(b.y) +
             ", \"width\": " + std::to_string(b.width) + ", \"height\": " + std::to_string(b.height) + "}, " +
             json_scores(r.boxes[i].probs) + "}";
      }
      s += "]}";
    }
  }
  std::fputs(s.c_str(), stdout);
}

void PredictionWriter::finish() {
  if (json_) std::fputs(first_ ? "]\n" : "\n]\n", stdout);
  std::fflush(stdout);
  if (csv_) csv_->commit();
}

}  // namespace minidl::app
