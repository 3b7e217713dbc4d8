// IDX files (the MNIST format): a big-endian header (two zero bytes, the element type 0x08 =
// unsigned byte, the number of dimensions, then each dimension as a uint32) followed by the
// values. Images are [n, rows, cols], labels [n]. Files may be gzip-compressed or not (as
// Debian's dataset-fashion-mnist installs them: /usr/share/datasets/fashion-mnist/*.gz).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "minidl/data/dataset.h"

namespace minidl::data {

// One IDX file, decompressed and checked: the header's dimensions must match the data exactly.
struct IdxArray {
  std::vector<std::int64_t> dims;
  std::vector<std::uint8_t> values;
};
// Throws DataError naming the file and what was wrong (missing, bad magic, unsupported type,
// truncated data with the item where it ends, trailing bytes, corrupt gzip stream).
IdxArray read_idx(const std::string& path);

struct IdxOptions {
  std::int64_t height = 0;  // 0: the file's own size
  std::int64_t width = 0;
  std::vector<std::string> class_names;  // empty: "0", "1", ... up to the largest label
};

class IdxDataset : public Dataset {
 public:
  // Throws DataError for a bad file, image and label counts that differ, or a label outside
  // class_names.
  IdxDataset(const std::string& images_path, const std::string& labels_path, const IdxOptions& options = {});

  std::int64_t size() const override { return static_cast<std::int64_t>(labels_.size()); }
  Sample get(std::int64_t i) const override;
  std::int64_t label(std::int64_t i) const override;
  const std::vector<std::string>& class_names() const override { return class_names_; }
  std::int64_t height() const override { return out_h_; }
  std::int64_t width() const override { return out_w_; }
  std::string description() const override;

 private:
  std::string images_path_;
  std::int64_t rows_ = 0, cols_ = 0, out_h_ = 0, out_w_ = 0;
  std::vector<std::uint8_t> pixels_;
  std::vector<std::int64_t> labels_;
  std::vector<std::string> class_names_;
};

// T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot.
const std::vector<std::string>& fashion_mnist_class_names();
constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";
// The training (60000) or test (10000) part of Fashion-MNIST in dir, with or without .gz.
// Size 0 keeps 28x28.
std::shared_ptr<IdxDataset> fashion_mnist(bool train, const std::string& dir = kFashionMnistDir,
                                          std::int64_t height = 0, std::int64_t width = 0);

}  // namespace minidl::data
