#include "minidl/data/idx.h"

#include <unistd.h>

#include "minidl/config.h"

#if MINIDL_WITH_ZLIB
#include <zlib.h>
#endif

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "minidl/core/file_io.h"
#include "minidl/data/data_error.h"

namespace minidl::data {

namespace {

#if MINIDL_WITH_ZLIB
// The whole file, gunzipped when it is gzip (zlib reads plain files through unchanged).
std::vector<std::uint8_t> read_maybe_gzip(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw_data_error(path, ": no such file");
  const int fd = open_regular_file(path);  // a FIFO or device is refused, not read forever
  gzFile f = gzdopen(fd, "rb");
  if (!f) {
    ::close(fd);
    throw_data_error(path, ": cannot open (", std::strerror(errno), ")");
  }
  std::vector<std::uint8_t> out;
  std::vector<std::uint8_t> chunk(1 << 20);
  while (true) {
    const int n = gzread(f, chunk.data(), static_cast<unsigned>(chunk.size()));
    if (n < 0) break;
    out.insert(out.end(), chunk.begin(), chunk.begin() + n);
    if (n == 0) break;
  }
  int err = Z_OK;
  const char* msg = gzerror(f, &err);
  std::string why = msg ? msg : "";
  gzclose(f);
  // A gzip stream cut short reads back as Z_BUF_ERROR ("unexpected end of file").
  if (err != Z_OK && err != Z_STREAM_END)
    throw_data_error(path, ": corrupt or truncated gzip data (zlib: ", why, ") after ", out.size(),
                     " decompressed bytes");
  return out;
}
#else
// A build without zlib (a machine with no zlib headers) reads plain files only, and says so
// when it meets a gzip stream (magic bytes 1f 8b) rather than reporting a bad IDX header.
std::vector<std::uint8_t> read_maybe_gzip(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw_data_error(path, ": no such file");
  const std::string bytes = read_regular_file(path);  // a FIFO or device is refused, not read forever
  std::vector<std::uint8_t> out(bytes.begin(), bytes.end());
  if (out.size() >= 2 && out[0] == 0x1f && out[1] == 0x8b)
    throw_data_error(path, ": gzip'd, and this build of minidl has no zlib (MINIDL_WITH_ZLIB=0): gunzip the file, ",
                     "or rebuild where zlib's headers are found (Debian: zlib1g-dev)");
  return out;
}
#endif

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
}

}  // namespace

IdxArray read_idx(const std::string& path) {
  std::vector<std::uint8_t> bytes = read_maybe_gzip(path);
  if (bytes.size() < 4)
    throw_data_error(path, ": truncated IDX header (", bytes.size(), " bytes; expected at least 4)");
  if (bytes[0] != 0 || bytes[1] != 0)
    throw_data_error(path, ": not an IDX file (first bytes ", int(bytes[0]), " ", int(bytes[1]), ", expected 0 0)");
  if (bytes[2] != 0x08)
    throw_data_error(path, ": IDX element type 0x", std::hex, int(bytes[2]), std::dec,
                     " is not supported (only 0x08, unsigned byte)");
  const int ndim = bytes[3];
  if (ndim < 1 || ndim > 4) throw_data_error(path, ": IDX file with ", ndim, " dimensions (expected 1 to 4)");
  const std::size_t header = 4 + 4 * static_cast<std::size_t>(ndim);
  if (bytes.size() < header)
    throw_data_error(path, ": truncated IDX header (", bytes.size(), " bytes; ", ndim, " dimensions need ", header, ")");
  IdxArray a;
  // Products are checked before they are formed (a dimension can be 2^32 - 1). The item size
  // is checked on its own: a zero first dimension keeps the total at 0 whatever the others claim.
  constexpr std::int64_t kMaxElements = std::int64_t{1} << 40;
  auto fits = [&](std::int64_t acc, std::int64_t n) { return n == 0 || acc <= kMaxElements / n; };
  std::int64_t total = 1, item = 1;
  for (int d = 0; d < ndim; ++d) {
    const std::int64_t n = be32(bytes.data() + 4 + 4 * d);
    a.dims.push_back(n);
    if (!fits(total, n) || (d > 0 && !fits(item, n))) {
      std::ostringstream dims;
      for (int k = 0; k < ndim; ++k) dims << (k ? "x" : "") << be32(bytes.data() + 4 + 4 * k);
      throw_data_error(path, ": IDX dimensions ", dims.str(), " are too large (over 2^40 values)");
    }
    total *= n;
    if (d > 0) item *= n;
  }
  const auto have = static_cast<std::int64_t>(bytes.size() - header);
  if (have < total) {
    std::ostringstream dims;
    for (int d = 0; d < ndim; ++d) dims << (d ? "x" : "") << a.dims[d];
    throw_data_error(path, ": truncated: the header says ", dims.str(), " (", total, " bytes of data) but the file holds ",
                     have, "; it ends inside item ", item > 0 ? have / item : 0, " of ", a.dims[0]);
  }
  if (have > total)
    throw_data_error(path, ": ", have - total, " bytes after the ", a.dims[0],
                     " items the header announces (not an IDX file, or a wrong header)");
  a.values.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
  return a;
}

IdxDataset::IdxDataset(const std::string& images_path, const std::string& labels_path, const IdxOptions& options)
    : images_path_(images_path) {
  IdxArray images = read_idx(images_path);
  const IdxArray labels = read_idx(labels_path);
  if (images.dims.size() != 3)
    throw_data_error(images_path, ": expected images [n, rows, cols], found ", images.dims.size(), " dimensions");
  if (labels.dims.size() != 1)
    throw_data_error(labels_path, ": expected labels [n], found ", labels.dims.size(), " dimensions");
  if (images.dims[0] != labels.dims[0])
    throw_data_error(images_path, ": ", images.dims[0], " images but ", labels_path, " has ", labels.dims[0], " labels");
  if (images.dims[0] == 0) throw_data_error(images_path, ": holds no images (empty data set)");
  rows_ = images.dims[1];
  cols_ = images.dims[2];
  if (rows_ <= 0 || cols_ <= 0) throw_data_error(images_path, ": empty images ", rows_, "x", cols_);
  out_h_ = options.height > 0 ? options.height : rows_;
  out_w_ = options.width > 0 ? options.width : cols_;

  class_names_ = options.class_names;
  const std::uint8_t max_label = *std::max_element(labels.values.begin(), labels.values.end());
  if (class_names_.empty())
    for (int c = 0; c <= max_label; ++c) class_names_.push_back(std::to_string(c));
  for (std::size_t i = 0; i < labels.values.size(); ++i)
    if (labels.values[i] >= class_names_.size())
      throw_data_error(labels_path, ": label ", int(labels.values[i]), " of item ", i, " is outside the ",
                       class_names_.size(), " classes 0..", class_names_.size() - 1);
  labels_.assign(labels.values.begin(), labels.values.end());
  pixels_ = std::move(images.values);
}

Sample IdxDataset::get(std::int64_t i) const {
  check_index(i);
  GrayImage img(rows_, cols_);
  std::copy_n(pixels_.begin() + static_cast<std::ptrdiff_t>(i * rows_ * cols_), rows_ * cols_, img.pixels.begin());
  Sample s;
  s.image = (rows_ == out_h_ && cols_ == out_w_) ? std::move(img) : resize(img, out_h_, out_w_);
  s.label = labels_[i];
  return s;
}

std::int64_t IdxDataset::label(std::int64_t i) const {
  check_index(i);
  return labels_[i];
}

std::string IdxDataset::description() const {
  std::ostringstream os;
  os << "IDX " << images_path_ << " (" << size() << " images " << rows_ << "x" << cols_;
  if (rows_ != out_h_ || cols_ != out_w_) os << " resized to " << out_h_ << "x" << out_w_;
  os << ", " << class_names_.size() << " classes)";
  return os.str();
}

const std::vector<std::string>& fashion_mnist_class_names() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                 "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

std::shared_ptr<IdxDataset> fashion_mnist(bool train, const std::string& dir, std::int64_t height,
                                          std::int64_t width) {
  const std::string prefix = dir + "/" + (train ? "train" : "t10k");
  auto pick = [&](const std::string& stem) {
    for (const char* suffix : {".gz", ""}) {
      const std::string p = prefix + stem + suffix;
      std::error_code ec;
      if (std::filesystem::is_regular_file(p, ec)) return p;
    }
    throw_data_error(prefix + stem + "[.gz]", ": Fashion-MNIST file not found (install Debian's ",
                     "dataset-fashion-mnist, or point at a folder holding the IDX files)");
  };
  IdxOptions o;
  o.height = height;
  o.width = width;
  o.class_names = fashion_mnist_class_names();
  return std::make_shared<IdxDataset>(pick("-images-idx3-ubyte"), pick("-labels-idx1-ubyte"), o);
}

}  // namespace minidl::data
