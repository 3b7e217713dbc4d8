// The image files a command line names: files as given, folders searched recursively (in
// byte order of their paths, so runs are repeatable) for files with an image extension.
// Anything that cannot be an image to read (missing, not a regular file: a FIFO, a device, a
// symlink to /dev/zero, a broken link) is kept in the list with the reason, for the caller to
// report or refuse; nothing is dropped silently.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace minidl::app {

struct ImageInput {
  std::string path;
  std::string problem;  // empty: a regular file to decode
};

struct ImageList {
  std::vector<ImageInput> inputs;
  std::int64_t ignored = 0;  // files in the folders that are not images by name
};

// Throws minidl::Error when a named path does not exist at all (a typo, not a bad file).
ImageList list_images(const std::vector<std::string>& args);

}  // namespace minidl::app
