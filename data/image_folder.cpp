#include "minidl/data/image_folder.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <sstream>

#include "minidl/data/data_error.h"
#include "minidl/data/image_io.h"

namespace fs = std::filesystem;

namespace minidl::data {

namespace {

constexpr std::size_t kMaxSkippedMessages = 10;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool hidden(const fs::path& p) {
  const std::string n = p.filename().string();
  return !n.empty() && n[0] == '.';
}

// Sub-folders of root (symlinks followed, hidden ones skipped), sorted by name.
std::vector<fs::path> class_dirs(const fs::path& root) {
  std::vector<fs::path> dirs;
  std::error_code ec;
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec))
    if (!hidden(it->path()) && fs::is_directory(it->path())) dirs.push_back(it->path());
  if (ec) throw_data_error(root.string(), ": cannot list folder (", ec.message(), ")");
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

// Image files under dir (recursively; hidden entries skipped), sorted by path.
std::vector<fs::path> image_files(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  // Symlinked sub-folders are not followed (a link cycle would never end); a class folder
  // that is itself a link is fine.
  fs::recursive_directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    if (hidden(it->path())) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (is_image_file_name(it->path().filename().string()) && !fs::is_directory(it->path()))
      files.push_back(it->path());
  }
  if (ec) throw_data_error(dir.string(), ": cannot list folder (", ec.message(), ")");
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

bool ImageFolder::has_class_folders(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return false;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (!hidden(it->path()) && fs::is_directory(it->path())) return true;
  return false;
}

ImageFolder::ImageFolder(const std::string& root, const ImageFolderOptions& options)
    : root_(root), options_(options) {
  if (options.height <= 0 || options.width <= 0)
    throw_data_error(root, ": bad image size ", options.height, "x", options.width);
  MINIDL_CHECK(options.channels == 1 || options.channels == 3, "ImageFolder ", root, ": channels ", options.channels,
               " (expected 1 for gray or 3 for RGB)");
  std::error_code ec;
  if (!fs::exists(root, ec)) throw_data_error(root, ": no such folder");
  if (!fs::is_directory(root, ec)) throw_data_error(root, ": not a folder (expected one sub-folder per class)");
  const std::vector<fs::path> dirs = class_dirs(root);
  if (dirs.empty())
    throw_data_error(root, ": no class sub-folders (expected root/<class>/<image files>, e.g. root/Happy/001.png)");

  // FER naming: every folder is one of the 7 classes, each at most once.
  const auto& fer = fer_class_names();
  std::vector<std::int64_t> dir_label(dirs.size(), -1);
  fer_classes_ = true;
  for (std::size_t d = 0; d < dirs.size(); ++d) {
    const std::string name = lower(dirs[d].filename().string());
    for (std::size_t c = 0; c < fer.size(); ++c)
      if (name == lower(fer[c])) dir_label[d] = static_cast<std::int64_t>(c);
    if (dir_label[d] < 0) fer_classes_ = false;
  }
  if (fer_classes_) {
    class_names_ = fer;
    std::map<std::int64_t, std::string> seen;
    for (std::size_t d = 0; d < dirs.size(); ++d) {
      auto [it, inserted] = seen.emplace(dir_label[d], dirs[d].string());
      if (!inserted)
        throw_data_error(root, ": two folders for the class ", fer[dir_label[d]], ": '", it->second, "' and '",
                         dirs[d].string(), "'");
    }
  } else {
    for (std::size_t d = 0; d < dirs.size(); ++d) {
      dir_label[d] = static_cast<std::int64_t>(d);
      class_names_.push_back(dirs[d].filename().string());
    }
  }

  for (std::size_t d = 0; d < dirs.size(); ++d) {
    const std::vector<fs::path> files = image_files(dirs[d]);
    if (files.empty())
      throw_data_error(dirs[d].string(), ": class folder '", dirs[d].filename().string(),
                       "' holds no images (.png, .jpg, .jpeg, .bmp, .gif, .tga, .pgm, .ppm)");
    std::int64_t kept = 0;
    for (const fs::path& f : files) {
      Image img;
      try {
        img = load_image(f.string(), options.channels);
      } catch (const DataError& e) {
        if (!options.skip_bad_files) throw;
        ++skipped_;
        if (skipped_messages_.size() < kMaxSkippedMessages) skipped_messages_.push_back(e.what());
        continue;
      }
      if (img.h != options.height || img.w != options.width) img = resize(img, options.height, options.width);
      pixels_.insert(pixels_.end(), img.pixels.begin(), img.pixels.end());
      files_.push_back(f.string());
      labels_.push_back(dir_label[d]);
      ++kept;
    }
    if (kept == 0)
      throw_data_error(dirs[d].string(), ": class folder '", dirs[d].filename().string(), "' has no readable images (",
                       files.size(), " skipped as bad)");
  }
}

Sample ImageFolder::get(std::int64_t i) const {
  check_index(i);
  Sample s;
  s.image = Image::planes(options_.channels, options_.height, options_.width);
  const std::size_t npix = s.image.pixels.size();
  std::copy_n(pixels_.begin() + static_cast<std::ptrdiff_t>(i * npix), npix, s.image.pixels.begin());
  s.label = labels_[i];
  return s;
}

std::int64_t ImageFolder::label(std::int64_t i) const {
  check_index(i);
  return labels_[i];
}

const std::string& ImageFolder::file(std::int64_t i) const {
  check_index(i);
  return files_[i];
}

std::string ImageFolder::description() const {
  std::ostringstream os;
  os << "image folder " << root_ << " (" << size() << " images in " << class_names_.size() << " classes"
     << (fer_classes_ ? ", FER names" : "") << ", " << (options_.channels == 3 ? "RGB, " : "") << "resized to "
     << options_.height << "x" << options_.width;
  if (skipped_) os << ", " << skipped_ << " bad files skipped";
  os << ")";
  return os.str();
}

}  // namespace minidl::data
