// What predict prints and writes, one image at a time as results come (so memory stays flat
// over a folder of any size): text lines, or one JSON array on stdout, and optionally a CSV
// file with one row per image or face. Every input appears in the output, including the files
// that were skipped as unreadable and the photos where no face was found.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "minidl/core/atomic_file.h"
#include "minidl/data/rect.h"

namespace minidl::app {

struct ScoredBox {
  data::Rect box;              // the face, or the whole image
  std::vector<double> probs;   // softmax over the classes
};

struct ImageResult {
  std::string path;
  std::int64_t width = 0, height = 0;
  bool searched_faces = false;      // true: `boxes` are the faces found (maybe none)
  std::vector<ScoredBox> boxes;     // false: one box, the whole image
  std::string error;                // non-empty: the file was skipped
};

class PredictionWriter {
 public:
  PredictionWriter(std::vector<std::string> class_names, std::size_t top_k, bool json, const std::string& csv_path);
  void write(const ImageResult& r);
  // Ends the JSON document and commits the CSV file (until then it is a temporary file).
  void finish();

 private:
  std::vector<std::pair<double, std::size_t>> ranked(const std::vector<double>& probs) const;
  std::string json_scores(const std::vector<double>& probs) const;
  void text(const ImageResult& r) const;
  void csv(const ImageResult& r);

  std::vector<std::string> names_;
  std::size_t top_k_;
  bool json_;
  bool first_ = true;
  std::unique_ptr<AtomicFile> csv_;
};

}  // namespace minidl::app
