// stb_image and stb_image_write (Debian's libstb-dev, 2.27), compiled here and nowhere else.
// Under the sanitizers this file alone is built with -fno-sanitize=shift-base: stb shifts
// negative ints left in its JPEG code (undefined by the letter of C++17, defined in C++20 and
// by gcc and clang). Every other check stays on for stb too; what stb does wrong on hostile
// input is refused or avoided by minidl's checks in image_io.cpp before stb sees the bytes.
#include "minidl/data/stb.h"

#include <cstdlib>

// Only the formats we accept are built, which also keeps HDR/PSD/PIC parsers out of reach of
// untrusted files.
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_ONLY_GIF
#define STBI_ONLY_TGA
#define STBI_ONLY_PNM
#define STBI_NO_HDR
#define STBI_NO_LINEAR
// Every stb_image allocation zeroed. Debian's stb_image 2.27 decodes a JPEG scan with Huffman
// tables no DHT segment defined, reading them from uninitialised memory: with 0xFF garbage
// there, symbol offsets land far outside the tables (seen while fixing a fuzz finding;
// docs/reliability.md, finding 9). Zeroed tables decode in bounds (to a garbage image, like any
// corrupt JPEG that stb accepts).
namespace {
void* stbi_zeroed_malloc(std::size_t n) { return std::calloc(1, n ? n : 1); }
}  // namespace
#define STBI_MALLOC(n) stbi_zeroed_malloc(n)
#define STBI_REALLOC(p, n) std::realloc(p, n)
#define STBI_FREE(p) std::free(p)
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO  // stb's file writers ignore write errors: save_image writes the bytes itself
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#if !defined(__clang__)  // gcc-only warnings; clang would warn about the unknown names
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#endif
#include <stb_image.h>
#include <stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

namespace minidl::data::stb {

bool info(const std::uint8_t* bytes, int size, int* w, int* h, int* channels) {
  return stbi_info_from_memory(bytes, size, w, h, channels) != 0;
}

Pixels load(const std::uint8_t* bytes, int size) {
  Pixels p;
  p.data = {stbi_load_from_memory(bytes, size, &p.w, &p.h, &p.channels, 0), stbi_image_free};
  return p;
}

const char* failure_reason() { return stbi_failure_reason(); }

bool write_bmp_to(void (*append)(void* ctx, void* data, int size), void* ctx, int w, int h, int channels,
                  const std::uint8_t* pixels) {
  return stbi_write_bmp_to_func(append, ctx, w, h, channels, pixels) != 0;
}

bool write_jpg_to(void (*append)(void* ctx, void* data, int size), void* ctx, int w, int h, int channels,
                  const std::uint8_t* pixels, int quality) {
  return stbi_write_jpg_to_func(append, ctx, w, h, channels, pixels, quality) != 0;
}

bool write_png_to(void (*append)(void* ctx, void* data, int size), void* ctx, int w, int h, int channels,
                  const std::uint8_t* pixels, int stride) {
  return stbi_write_png_to_func(append, ctx, w, h, channels, pixels, stride) != 0;
}

}  // namespace minidl::data::stb
