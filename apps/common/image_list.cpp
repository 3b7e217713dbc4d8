#include "common/image_list.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sys/stat.h>

#include "minidl/base/error.h"
#include "minidl/data/image_io.h"

namespace minidl::app {

namespace fs = std::filesystem;

namespace {

// Why a path (followed through symlinks) is not a file to decode, or "".
std::string problem_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return std::string("cannot read (") + std::strerror(errno) + ")";
  if (S_ISREG(st.st_mode)) return "";
  if (S_ISFIFO(st.st_mode)) return "not a regular file (a FIFO)";
  if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) return "not a regular file (a device)";
  if (S_ISSOCK(st.st_mode)) return "not a regular file (a socket)";
  return "not a regular file";
}

void add_folder(const std::string& dir, ImageList& out) {
  std::vector<std::string> found;
  std::error_code ec;
  // Symlinked folders are not followed (a link back up would never end); symlinked files are.
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
  if (ec) throw Error(detail::str(dir, ": cannot list the folder (", ec.message(), ")"));
  for (; it != end; it.increment(ec)) {
    if (ec) throw Error(detail::str(dir, ": cannot list the folder (", ec.message(), ")"));
    const fs::directory_entry& e = *it;
    std::error_code dir_ec;
    if (e.is_directory(dir_ec)) {
      if (e.is_symlink(dir_ec)) ++out.ignored;  // a linked folder: not followed
      continue;
    }
    const std::string p = e.path().string();
    if (data::is_image_file_name(p))
      found.push_back(p);
    else
      ++out.ignored;
  }
  std::sort(found.begin(), found.end());
  for (auto& p : found) out.inputs.push_back({p, problem_of(p)});
}

}  // namespace

ImageList list_images(const std::vector<std::string>& args) {
  ImageList out;
  for (const std::string& a : args) {
    struct stat st {}, lst {};
    const bool exists = ::stat(a.c_str(), &st) == 0;
    const bool is_link = ::lstat(a.c_str(), &lst) == 0;
    if (!exists && !is_link) throw Error(detail::str(a, ": no such file or folder"));
    if (exists && S_ISDIR(st.st_mode))
      add_folder(a, out);
    else
      out.inputs.push_back({a, problem_of(a)});
  }
  return out;
}

}  // namespace minidl::app
