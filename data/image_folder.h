// A folder of images, one sub-folder per class (torchvision's ImageFolder layout):
//   root/Angry/0001.png, root/Happy/img.jpg, ...
// Folder names become the class names, sorted; but when every folder is named after one of
// the 7 FER classes (case-insensitively), the classes are the canonical FER list in its order
// (Angry, Disgust, Fear, Happy, Sad, Surprise, Neutral), so labels mean the same as in FER2013
// even where a folder is missing. Files are found recursively; files that are not images by
// their extension are ignored. Every image is decoded (stb_image), converted to gray (ITU-R
// 601 luma; or kept as R, G, B planes with channels = 3) and resized once, when the data set is opened: a corrupt file fails there, not an
// hour into training, and the loader never decodes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "minidl/data/dataset.h"

namespace minidl::data {

struct ImageFolderOptions {
  std::int64_t height = 64;
  std::int64_t width = 64;
  bool skip_bad_files = false;  // false: an unreadable or corrupt image throws; true: skip and count
  int channels = 1;             // 1: gray (ITU-R 601 luma); 3: R, G, B planes
};

class ImageFolder : public Dataset {
 public:
  // Throws DataError for a missing root, a root without class folders, an empty class folder,
  // two folders for one FER class, or (without skip_bad_files) an unreadable or corrupt image.
  explicit ImageFolder(const std::string& root, const ImageFolderOptions& options = {});

  std::int64_t size() const override { return static_cast<std::int64_t>(labels_.size()); }
  Sample get(std::int64_t i) const override;
  std::int64_t label(std::int64_t i) const override;
  const std::vector<std::string>& class_names() const override { return class_names_; }
  std::int64_t height() const override { return options_.height; }
  std::int64_t width() const override { return options_.width; }
  std::int64_t channels() const override { return options_.channels; }
  std::string description() const override;

  const std::string& root() const { return root_; }
  // The file sample i came from.
  const std::string& file(std::int64_t i) const;
  // Whether the classes are the canonical FER list (all folders named after FER classes).
  bool fer_classes() const { return fer_classes_; }
  std::int64_t skipped_files() const { return skipped_; }
  const std::vector<std::string>& skipped_messages() const { return skipped_messages_; }

  // Whether `dir` looks like an image-folder root (has at least one sub-folder).
  static bool has_class_folders(const std::string& dir);

 private:
  std::string root_;
  ImageFolderOptions options_;
  bool fer_classes_ = false;
  std::vector<std::string> class_names_;
  std::vector<std::string> files_;
  std::vector<std::int64_t> labels_;
  std::vector<std::uint8_t> pixels_;  // size() images of channels x height x width
  std::int64_t skipped_ = 0;
  std::vector<std::string> skipped_messages_;
};

}  // namespace minidl::data
