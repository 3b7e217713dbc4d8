#include "minidl/data/image_io.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <vector>

#include "minidl/data/data_error.h"

// stb is compiled into this file, with static linkage: no run-time dependency on libstb, and
// no clash with another translation unit (ours or a user's) that compiles its own copy.
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
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <stb_image.h>
#include <stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

namespace minidl::data {

namespace {

std::string lower_extension(const std::string& name) {
  const auto slash = name.find_last_of('/');
  const auto dot = name.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string ext = name.substr(dot + 1);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext;
}

// stb_image reads past the end of a truncated BMP or JPEG as zeros and returns an image with
// a black or grey band, without an error. These checks catch that, so a cut-off file fails
// loudly instead of training on a half-black face.
void check_not_truncated(const std::uint8_t* b, std::size_t size, const std::string& name) {
  auto le32 = [&](std::size_t at) {
    return static_cast<std::int64_t>(static_cast<std::int32_t>(std::uint32_t{b[at]} | (std::uint32_t{b[at + 1]} << 8) |
                                                                (std::uint32_t{b[at + 2]} << 16) |
                                                                (std::uint32_t{b[at + 3]} << 24)));
  };
  if (size >= 2 && b[0] == 'B' && b[1] == 'M') {
    if (size < 34) throw_data_error(name, ": truncated BMP (", size, " bytes, shorter than its header)");
    const std::int64_t offset = le32(10), w = le32(18), h = std::abs(le32(22));
    const int bpp = b[28] | (b[29] << 8);
    const std::int64_t compression = le32(30);
    if (compression == 0 || compression == 3) {  // uncompressed rows: the size is known
      const std::int64_t row = (bpp * w + 31) / 32 * 4;
      const std::int64_t need = offset + row * h;
      if (w > 0 && h > 0 && static_cast<std::int64_t>(size) < need)
        throw_data_error(name, ": truncated BMP: a ", w, "x", h, " image at ", bpp, " bits needs ", need,
                         " bytes, the file has ", size);
    }
  } else if (size >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) {
    // The last start-of-scan marker (FF DA) must be followed by the end-of-image marker (FF D9).
    // Inside entropy-coded data an FF is always followed by 00 or a restart marker, so neither
    // can appear there by accident; an EXIF thumbnail's markers come before the main scan.
    std::size_t sos = std::string::npos;
    for (std::size_t i = 0; i + 1 < size; ++i)
      if (b[i] == 0xFF && b[i + 1] == 0xDA) sos = i;
    bool eoi = false;
    if (sos != std::string::npos)
      for (std::size_t i = sos + 2; i + 1 < size && !eoi; ++i) eoi = b[i] == 0xFF && b[i + 1] == 0xD9;
    if (!eoi) throw_data_error(name, ": truncated JPEG (no end-of-image marker after the image data)");
  }
}

}  // namespace

GrayImage decode_image_gray(const std::uint8_t* bytes, std::size_t size, const std::string& name) {
  if (size == 0) throw_data_error(name, ": empty file (0 bytes), not an image");
  if (size > static_cast<std::size_t>(INT32_MAX)) throw_data_error(name, ": ", size, " bytes is too large an image file");
  check_not_truncated(bytes, size, name);
  int w = 0, h = 0, channels = 0;
  // Ask stb for the file's own channel count and convert here, so the luma weights are ours
  // (stb's own RGB->gray uses different ones).
  std::unique_ptr<stbi_uc, void (*)(void*)> data(
      stbi_load_from_memory(bytes, static_cast<int>(size), &w, &h, &channels, 0), stbi_image_free);
  if (!data) {
    const char* why = stbi_failure_reason();
    throw_data_error(name, ": cannot decode image (", why ? why : "unknown reason",
                     "); expected a PNG, JPEG, BMP, GIF, TGA or PGM/PPM file");
  }
  if (w <= 0 || h <= 0) throw_data_error(name, ": decoded to an empty image ", h, "x", w);
  return to_gray(data.get(), h, w, channels);
}

GrayImage load_image_gray(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_data_error(path, ": cannot open (", std::strerror(errno), ")");
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw_data_error(path, ": read error");
  return decode_image_gray(bytes.data(), bytes.size(), path);
}

void save_image(const std::string& path, const GrayImage& image) {
  if (image.h <= 0 || image.w <= 0 || static_cast<std::int64_t>(image.pixels.size()) != image.h * image.w)
    throw_data_error(path, ": cannot write an image of ", image.h, "x", image.w, " with ", image.pixels.size(),
                     " pixels");
  const std::string ext = lower_extension(path);
  const int w = static_cast<int>(image.w), h = static_cast<int>(image.h);
  int ok = 0;
  if (ext == "png")
    ok = stbi_write_png(path.c_str(), w, h, 1, image.pixels.data(), w);
  else if (ext == "bmp")
    ok = stbi_write_bmp(path.c_str(), w, h, 1, image.pixels.data());
  else if (ext == "jpg" || ext == "jpeg")
    ok = stbi_write_jpg(path.c_str(), w, h, 1, image.pixels.data(), 95);
  else
    throw_data_error(path, ": cannot write images of type '", ext, "' (use .png, .bmp or .jpg)");
  if (!ok) throw_data_error(path, ": cannot write image (", std::strerror(errno), ")");
}

std::vector<std::uint8_t> encode_png(const GrayImage& image) {
  if (image.h <= 0 || image.w <= 0 || static_cast<std::int64_t>(image.pixels.size()) != image.h * image.w)
    throw_data_error("encode_png: cannot encode a ", image.h, "x", image.w, " image holding ", image.pixels.size(),
                     " pixels");
  std::vector<std::uint8_t> out;
  auto append = [](void* ctx, void* data, int size) {
    auto* v = static_cast<std::vector<std::uint8_t>*>(ctx);
    v->insert(v->end(), static_cast<std::uint8_t*>(data), static_cast<std::uint8_t*>(data) + size);
  };
  const int w = static_cast<int>(image.w), h = static_cast<int>(image.h);
  if (!stbi_write_png_to_func(append, &out, w, h, 1, image.pixels.data(), w))
    throw_data_error("encode_png: cannot encode a ", h, "x", w, " image");
  return out;
}

bool is_image_file_name(const std::string& name) {
  static const char* const kExtensions[] = {"png", "jpg", "jpeg", "bmp", "gif", "tga", "pgm", "ppm", "pnm"};
  const std::string ext = lower_extension(name);
  for (const char* e : kExtensions)
    if (ext == e) return true;
  return false;
}

}  // namespace minidl::data
