// Replays the fuzz targets' inputs in the normal suite (any compiler, no libFuzzer needed):
//   tests/fuzz/corpus/<target>/       the seed corpora: valid files, which must load
//   tests/fuzz/regressions/<target>/  every input a fuzzer crashed, hung or blew up memory on,
//                                     which must now load or give a minidl::Error, nothing else
// The harness is the fuzzers' own (tests/fuzz/fuzz_inputs.h), so a regression file means here
// exactly what it meant to the fuzzer that found it.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "fuzz/fuzz_inputs.h"

namespace fs = std::filesystem;

namespace {

std::vector<fs::path> inputs_in(const fs::path& dir) {
  std::vector<fs::path> files;
  if (!fs::is_directory(dir)) return files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename() != "README.md") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<std::uint8_t> bytes_of(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::vector<std::uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

const minidl::fuzz::Target& target(const std::string& name) {
  for (const auto& t : minidl::fuzz::targets())
    if (name == t.name) return t;
  FAIL("no fuzz target " << name);
  throw;
}

void replay(const std::string& name) {
  const auto& t = target(name);
  const fs::path root = MINIDL_FUZZ_DIR;
  const auto seeds = inputs_in(root / "corpus" / name);
  CHECK(seeds.size() >= 3);
  for (const auto& p : seeds) {
    INFO("seed " << p.string());
    const auto b = bytes_of(p);
    CHECK_NOTHROW(t.run(b.data(), b.size()));  // seeds are valid files
  }
  std::size_t rejected = 0;
  const auto found = inputs_in(root / "regressions" / name);
  for (const auto& p : found) {
    INFO("regression input " << p.string());
    const auto b = bytes_of(p);
    try {
      t.run(b.data(), b.size());
    } catch (const minidl::Error& e) {
      ++rejected;  // a clear error is the right answer to a bad file
      CHECK(std::string(e.what()).size() > 0);
    } catch (const std::exception& e) {
      FAIL("not a minidl::Error: " << e.what());
    }
  }
  std::printf("fuzz replay %s: %zu seeds loaded, %zu regression inputs (%zu rejected with minidl::Error)\n",
              name.c_str(), seeds.size(), found.size(), rejected);
}

}  // namespace

TEST_CASE("fuzz inputs replay: safetensors", "[fuzz][safetensors]") { replay("safetensors"); }
TEST_CASE("fuzz inputs replay: fer2013_csv", "[fuzz][data]") { replay("fer2013_csv"); }
TEST_CASE("fuzz inputs replay: idx", "[fuzz][data]") { replay("idx"); }
TEST_CASE("fuzz inputs replay: image", "[fuzz][data]") { replay("image"); }
