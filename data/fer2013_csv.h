// FER2013 as Kaggle ships it: fer2013.csv with the header `emotion,pixels,Usage`, one face per
// row: emotion 0..6 (Angry, Disgust, Fear, Happy, Sad, Surprise, Neutral), 48*48 pixel values
// separated by spaces, and Usage = Training | PublicTest | PrivateTest (the data's own split:
// train, validation, test). The Usage column may be absent (`emotion,pixels`); then there is
// no split in the file and callers make one (split.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "minidl/data/dataset.h"

namespace minidl::data {

struct Fer2013Options {
  std::int64_t height = 48;      // size get() returns (resized from the stored side x side)
  std::int64_t width = 48;
  std::int64_t side = 48;        // every row must hold side*side pixel values
  bool skip_bad_rows = false;    // false: the first bad row throws; true: skip it and count it
};

class Fer2013Csv : public FerDataset {
 public:
  enum class Usage : std::uint8_t { None, Training, PublicTest, PrivateTest };

  // Reads and checks the whole file. Throws DataError naming the file, the line and what was
  // wrong (bad header, wrong field count, non-numeric field, label outside 0..6, wrong pixel
  // count, unknown Usage), unless options.skip_bad_rows; an empty result always throws.
  explicit Fer2013Csv(const std::string& path, const Fer2013Options& options = {});

  std::int64_t size() const override { return static_cast<std::int64_t>(labels_.size()); }
  Sample get(std::int64_t i) const override;
  std::int64_t label(std::int64_t i) const override;
  std::int64_t height() const override { return options_.height; }
  std::int64_t width() const override { return options_.width; }
  std::string description() const override;

  const std::string& path() const { return path_; }
  bool has_usage() const { return has_usage_; }
  Usage usage(std::int64_t i) const;
  // Indices of the rows with that Usage, in file order.
  std::vector<std::int64_t> indices_with_usage(Usage usage) const;

  // Rows skipped with skip_bad_rows, and the messages of the first few of them.
  std::int64_t skipped_rows() const { return skipped_; }
  const std::vector<std::string>& skipped_messages() const { return skipped_messages_; }

  static const char* usage_name(Usage u);

 private:
  std::string path_;
  Fer2013Options options_;
  bool has_usage_ = false;
  std::vector<std::uint8_t> pixels_;  // rows of side*side
  std::vector<std::int64_t> labels_;
  std::vector<Usage> usages_;
  std::int64_t skipped_ = 0;
  std::vector<std::string> skipped_messages_;
};

}  // namespace minidl::data
