// The stb_image / stb_image_write calls minidl makes, behind minidl's own names. stb itself is
// compiled in data/stb.cpp alone (static linkage: no run-time dependency on libstb, and no clash
// with a user's own copy of stb), so that the sanitizer exceptions for this third-party code
// cover stb and nothing of ours (CMakeLists.txt, docs/reliability.md). Internal to data/.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace minidl::data::stb {

// Pixels stb decoded, freed with stb's own allocator.
struct Pixels {
  std::unique_ptr<std::uint8_t, void (*)(void*)> data{nullptr, nullptr};
  int w = 0, h = 0, channels = 0;
};

// The header's size and channel count, or false when stb does not recognise the file.
bool info(const std::uint8_t* bytes, int size, int* w, int* h, int* channels);
// Decodes with the file's own channel count; data is null (see failure_reason) on failure.
Pixels load(const std::uint8_t* bytes, int size);
const char* failure_reason();

// An image of w x h pixels with `channels` interleaved 8-bit channels (PNG rows `stride` bytes
// apart) encoded into memory, handed to `append` piece by piece. False on failure. (No file
// writers: stb's ignore write errors; save_image writes the bytes through AtomicFile.)
bool write_png_to(void (*append)(void* ctx, void* data, int size), void* ctx, int w, int h, int channels,
                  const std::uint8_t* pixels, int stride);
bool write_bmp_to(void (*append)(void* ctx, void* data, int size), void* ctx, int w, int h, int channels,
                  const std::uint8_t* pixels);
bool write_jpg_to(void (*append)(void* ctx, void* data, int size), void* ctx, int w, int h, int channels,
                  const std::uint8_t* pixels, int quality);

}  // namespace minidl::data::stb
