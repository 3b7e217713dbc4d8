#include "test_assets.h"

#include "support.h"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>

namespace minidl::test_assets {

std::string root() {
  const char* env = std::getenv("MINIDL_TEST_ASSETS");
  return env && *env ? env : "/opt/minidl-test";
}

std::string photos_dir() {
  const std::string dir = root() + "/photos";
  for (const char* f : {"grace_hopper_512x512.jpg", "astronaut.png"})
    if (!std::filesystem::is_regular_file(dir + "/" + f)) return "";
  return dir;
}

std::string photos_hint() { return "scripts/fetch-test-assets.sh puts them in " + root() + "/photos"; }

namespace {
bool imports(const std::string& python, const std::string& modules) {
  std::string out;
  return std::filesystem::exists(python) && minidl::test::run_command(python + " -c 'import " + modules + "'", &out) == 0;
}
}  // namespace

const std::string& opencv_python() {
  static const std::string p = imports("/usr/bin/python3", "cv2, numpy") ? "/usr/bin/python3" : "";
  return p;
}

const std::string& onnx_python() {
  static const std::string p = [] {
    const std::string venv = root() + "/venv/bin/python";
    if (imports(venv, "onnx, numpy")) return venv;
    return imports("/usr/bin/python3", "onnx, numpy") ? std::string("/usr/bin/python3") : std::string();
  }();
  return p;
}

std::string script(const std::string& name) { return std::string(MINIDL_TEST_DATA_DIR) + "/../" + name; }

bool skip(const std::string& need, const std::string& reason) {
  // Counted as every skip is (support.h); no machine of ours may skip for a missing asset:
  // scripts/run-ctest.sh's allow-list has no "assets" line.
  minidl::test::skip(minidl::test::Need::Assets, need + ": " + reason);
  return false;
}

}  // namespace minidl::test_assets
