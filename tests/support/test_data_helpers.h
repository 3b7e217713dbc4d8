// Helpers shared by the data-layer tests (and the tests that make data): image writers, a check
// that a call throws minidl::DataError (not some other exception, not a crash), an epoch's batches.
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "minidl/base/error.h"
#include "minidl/data/dataloader.h"
#include "minidl/data/image.h"
#include "minidl/data/image_io.h"
#include "support.h"

namespace minidl::data::testing {

// Scratch folders and whole files as every test has them (support.h).
using minidl::test::read_file;
using minidl::test::TempDir;
using minidl::test::write_file;

// save_image into a folder that may not exist yet.
inline void save_in_dir(const std::string& path, const GrayImage& image) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  save_image(path, image);
}

// Runs f, which must throw an E (minidl::Error: any of its subclasses); returns its message.
template <typename E = Error, typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    FAIL("expected " << (std::is_same_v<E, DataError> ? "minidl::DataError" : "minidl::Error")
                     << ", got another exception: " << e.what());
  }
  FAIL("expected " << (std::is_same_v<E, DataError> ? "minidl::DataError" : "minidl::Error") << ", nothing was thrown");
  return "";
}

// Runs f, which must throw minidl::DataError; returns its message.
template <typename F>
std::string data_error_of(F&& f) {
  return error_of<DataError>(std::forward<F>(f));
}

// Options for a loader that yields the data set in order, batch_size at a time, on `workers`
// threads (0: the calling one).
inline DataLoaderOptions in_order(std::int64_t batch_size, int workers) {
  DataLoaderOptions o;
  o.batch_size = batch_size;
  o.shuffle = false;
  o.num_workers = workers;
  return o;
}

// The DataError that the first batch of epoch 0 raises (the test fails if none does).
inline std::string first_batch_error(DataLoader& loader) {
  loader.start_epoch(0);
  Batch b;
  return data_error_of([&] { loader.next(b); });
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
