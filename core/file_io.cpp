#include "minidl/core/file_io.h"

#include <filesystem>
#include <fstream>

#include "minidl/base/error.h"

namespace minidl {

void write_file_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    MINIDL_CHECK(f.good(), "cannot write ", tmp);
    f << text;
    f.flush();
    MINIDL_CHECK(f.good(), "cannot write ", tmp, " (disk full?)");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  MINIDL_CHECK(!ec, "cannot rename ", tmp, " to ", path, ": ", ec.message());
}

}  // namespace minidl
