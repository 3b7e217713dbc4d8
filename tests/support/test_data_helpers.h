// Helpers shared by the data-layer tests: a scratch folder per test, file writers, and a
// check that a call throws minidl::DataError (not some other exception, not a crash).
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "minidl/base/error.h"
#include "minidl/data/dataloader.h"
#include "minidl/data/image.h"
#include "minidl/data/image_io.h"

namespace minidl::data::testing {

// A fresh folder under the system temp dir, removed with everything in it at scope exit.
class TempDir {
 public:
  explicit TempDir(const std::string& tag = "data") {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("minidl_test_" + tag + "_" + std::to_string(rd()) + "_" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  std::string str() const { return path_.string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline void write_file(const std::string& path, const std::string& bytes) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

// save_image into a folder that may not exist yet.
inline void save_in_dir(const std::string& path, const GrayImage& image) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  save_image(path, image);
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Runs f, which must throw minidl::DataError; returns its message.
template <typename F>
std::string data_error_of(F&& f) {
  try {
    f();
  } catch (const DataError& e) {
    return e.what();
  } catch (const std::exception& e) {
    FAIL("expected minidl::DataError, got another exception: " << e.what());
  }
  FAIL("expected minidl::DataError, nothing was thrown");
  return "";
}

// Runs f, which must throw minidl::Error (any subclass); returns its message.
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    FAIL("expected minidl::Error, got another exception: " << e.what());
  }
  FAIL("expected minidl::Error, nothing was thrown");
  return "";
}

// Every batch of one epoch.
inline std::vector<Batch> run_epoch(DataLoader& loader, std::int64_t epoch) {
  loader.start_epoch(epoch);
  std::vector<Batch> out;
  Batch b;
  while (loader.next(b)) out.push_back(b);
  return out;
}

inline GrayImage random_image(std::int64_t h, std::int64_t w, std::uint32_t seed) {
  std::mt19937 g(seed);
  GrayImage img(h, w);
  for (auto& p : img.pixels) p = static_cast<std::uint8_t>(g() & 0xff);
  return img;
}

// A 24-bit uncompressed BMP of an RGB image (rgb: h*w*3, top row first), written by hand so
// that the decoder is tested against bytes no stb code produced.
inline std::string bmp24(std::int64_t h, std::int64_t w, const std::vector<std::uint8_t>& rgb) {
  const std::int64_t row = (w * 3 + 3) / 4 * 4;
  const std::uint32_t data_size = static_cast<std::uint32_t>(row * h), file_size = 54 + data_size;
  std::string b(54, '\0');
  auto put32 = [&](std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) b[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
  };
  b[0] = 'B';
  b[1] = 'M';
  put32(2, file_size);
  put32(10, 54);
  put32(14, 40);
  put32(18, static_cast<std::uint32_t>(w));
  put32(22, static_cast<std::uint32_t>(h));
  b[26] = 1;   // planes
  b[28] = 24;  // bits per pixel
  put32(34, data_size);
  for (std::int64_t y = h - 1; y >= 0; --y) {  // bottom row first
    std::string r(static_cast<std::size_t>(row), '\0');
    for (std::int64_t x = 0; x < w; ++x) {
      const std::uint8_t* p = &rgb[static_cast<std::size_t>((y * w + x) * 3)];
      r[x * 3 + 0] = static_cast<char>(p[2]);  // B G R
      r[x * 3 + 1] = static_cast<char>(p[1]);
      r[x * 3 + 2] = static_cast<char>(p[0]);
    }
    b += r;
  }
  return b;
}

}  // namespace minidl::data::testing
