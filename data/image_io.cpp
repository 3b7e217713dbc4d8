#include "minidl/data/image_io.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "minidl/core/atomic_file.h"
#include "minidl/core/file_io.h"
#include "minidl/data/data_error.h"
#include "minidl/data/jpeg_check.h"
#include "minidl/data/stb.h"

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

// Where a JPEG's start-of-image marker ends, found as stb_image finds it (it skips any number
// of FF fill bytes before FF D8), or 0 when the bytes do not start like a JPEG.
std::size_t jpeg_start(const std::uint8_t* b, std::size_t size) {
  if (size < 2 || b[0] != 0xFF) return 0;
  std::size_t i = 1;
  while (i < size && b[i] == 0xFF) ++i;
  return i < size && b[i] == 0xD8 ? i + 1 : 0;
}

const std::uint8_t kPngSignature[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};

// The length field of the PNG chunk at byte i (big-endian, 4 bytes; the caller has i + 12 <= size).
std::uint64_t png_chunk_length(const std::uint8_t* b, std::size_t i) {
  return (std::uint64_t{b[i]} << 24) | (std::uint64_t{b[i + 1]} << 16) | (std::uint64_t{b[i + 2]} << 8) | b[i + 3];
}

// A chunk type as text, with bytes that are not ASCII letters shown as '?'.
std::string printable(std::string type) {
  for (char& c : type)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) c = '?';
  return type;
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
    // Uncompressed rows: the size is known. Sizes stb refuses anyway are left to it, which also
    // keeps the products below far from overflowing.
    if ((compression == 0 || compression == 3) && w > 0 && h > 0 && w <= (1 << 24) && h <= (1 << 24) && bpp > 0 &&
        bpp <= 64) {
      const std::int64_t row = (bpp * w + 31) / 32 * 4;
      const std::int64_t need = offset + row * h;
      if (static_cast<std::int64_t>(size) < need)
        throw_data_error(name, ": truncated BMP: a ", w, "x", h, " image at ", bpp, " bits needs ", need,
                         " bytes, the file has ", size);
    }
  } else if (jpeg_start(b, size) > 0) {
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
  } else if (size >= 8 && std::memcmp(b, kPngSignature, 8) == 0) {
    // Every chunk's length must fit in what is left of the file. stb 2.27 grows its buffer to
    // an IDAT chunk's claimed length before it reads the chunk, so the corrupt length field of
    // a 79-byte file made it allocate 2 GiB (found by fuzzing, 2026-12-03); a PNG cut short
    // fails here too, with a message that says so.
    for (std::size_t i = 8; i + 12 <= size;) {
      const std::uint64_t len = png_chunk_length(b, i);
      const std::string type(reinterpret_cast<const char*>(b + i + 4), 4);
      if (len > size - i - 12)
        throw_data_error(name, ": truncated or corrupt PNG: its '", printable(type), "' chunk at byte ", i, " claims ",
                         len, " bytes, only ", size - i - 12, " follow");
      if (type == "IEND") break;
      i += 12 + static_cast<std::size_t>(len);
    }
  } else if (size >= 18) {
    // TGA has no magic number; these are the header rules stb_image recognises it by (no other
    // format it reads can pass them: their second bytes are all above 1). A run-length packet
    // holds at most 128 pixels, so even a compressed image needs this many bytes; stb would
    // read the rest as zeros, and slowly: a 20-byte file can announce 40 million pixels.
    const unsigned cmap = b[1], type = b[2], entry_bits = b[7], bits = b[16];
    const bool bits_ok = bits == 8 || bits == 15 || bits == 16 || bits == 24 || bits == 32;
    const bool is_tga = cmap == 1 ? (type == 1 || type == 9) && (entry_bits == 8 || entry_bits == 15 ||
                                                                  entry_bits == 16 || entry_bits == 24 ||
                                                                  entry_bits == 32) &&
                                        (bits == 8 || bits == 16)
                                  : cmap == 0 && (type == 2 || type == 3 || type == 10 || type == 11) && bits_ok;
    const std::int64_t w = b[12] | (b[13] << 8), h = b[14] | (b[15] << 8);
    if (is_tga && w > 0 && h > 0) {
      const std::int64_t pixel_bytes = (bits + 7) / 8;
      const std::int64_t cmap_bytes = cmap == 1 ? (b[5] | (b[6] << 8)) * ((entry_bits + 7) / 8) : 0;
      const std::int64_t start = 18 + b[0] + cmap_bytes, pixels = w * h;
      const bool rle = type >= 9;
      const std::int64_t need = start + (rle ? (pixels + 127) / 128 * (1 + pixel_bytes) : pixels * pixel_bytes);
      if (static_cast<std::int64_t>(size) < need)
        throw_data_error(name, ": truncated TGA: a ", w, "x", h, rle ? " run-length encoded" : "", " image needs at least ",
                         need, " bytes, the file has ", size);
    }
  }
}

// Debian's stb_image 2.27 reads a PNM header's width, height and maximum value into an int
// without an overflow check (undefined behaviour; found by fuzzing). Reads them as stb does and
// refuses a number over INT_MAX first.
void check_pnm_header(const std::uint8_t* b, std::size_t size, const std::string& name) {
  std::size_t pos = 2;  // after "P5" or "P6"
  auto at_end = [&] { return pos >= size; };
  auto next = [&]() -> char { return pos < size ? static_cast<char>(b[pos++]) : '\0'; };
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; };
  char c = next();
  for (const char* what : {"width", "height", "maximum value"}) {
    for (;;) {  // white space and # comments
      while (!at_end() && space(c)) c = next();
      if (at_end() || c != '#') break;
      while (!at_end() && c != '\n' && c != '\r') c = next();
    }
    std::int64_t v = 0;
    while (!at_end() && c >= '0' && c <= '9') {
      v = v * 10 + (c - '0');
      if (v > INT32_MAX) throw_data_error(name, ": corrupt PNM header (its ", what, " does not fit in 32 bits)");
      c = next();
    }
  }
}

// Debian's stb_image 2.27 copies a PNG's first IDAT chunk into a buffer it has not allocated yet
// when that chunk is empty: memcpy of 0 bytes to a null pointer, undefined behaviour (found by
// fuzzing). An empty IDAT chunk carries nothing, so it is dropped from a copy of the file before
// stb sees it: the file is legal PNG and decodes the same. Returns that copy, or nothing when
// the file has no empty IDAT chunk (or is not a PNG).
std::vector<std::uint8_t> without_empty_png_idat(const std::uint8_t* b, std::size_t size) {
  if (size < 8 || std::memcmp(b, kPngSignature, 8) != 0) return {};
  std::vector<std::size_t> empty;  // offsets of empty IDAT chunks (12 bytes: length, type, CRC)
  for (std::size_t i = 8; i + 12 <= size;) {
    const std::uint64_t len = png_chunk_length(b, i);
    if (len == 0 && std::memcmp(b + i + 4, "IDAT", 4) == 0) empty.push_back(i);
    if (std::memcmp(b + i + 4, "IEND", 4) == 0 || len > size - i - 12) break;
    i += 12 + static_cast<std::size_t>(len);
  }
  if (empty.empty()) return {};
  std::vector<std::uint8_t> out;
  out.reserve(size - 12 * empty.size());
  std::size_t from = 0;
  for (const std::size_t at : empty) {
    out.insert(out.end(), b + from, b + at);
    from = at + 12;
  }
  out.insert(out.end(), b + from, b + size);
  return out;
}

// Larger images are refused before stb allocates them: a 40-byte header can announce a
// 16384x16384 RGBA image (1 GiB) whose missing pixels stb reads as zeros. No face image comes
// near this.
constexpr std::int64_t kMaxImageSide = 16384;
constexpr std::int64_t kMaxImagePixels = std::int64_t{1} << 26;  // 64 Mpx, 8192x8192

}  // namespace

GrayImage decode_image_gray(const std::uint8_t* bytes, std::size_t size, const std::string& name) {
  return decode_image(bytes, size, name, 1);
}

Image decode_image(const std::uint8_t* bytes, std::size_t size, const std::string& name, int out_channels) {
  MINIDL_CHECK(out_channels == 1 || out_channels == 3, name, ": images decode to 1 (gray) or 3 (RGB) channels, not ",
               out_channels);
  if (size == 0) throw_data_error(name, ": empty file (0 bytes), not an image");
  if (size > static_cast<std::size_t>(INT32_MAX)) throw_data_error(name, ": ", size, " bytes is too large an image file");
  check_not_truncated(bytes, size, name);
  // Corrupt Huffman tables, which stb 2.27 overruns even while reading the header (stb::info
  // below), and image data that ends before its blocks (jpeg_check.h).
  check_jpeg_for_stb(bytes, size, name, kMaxImageSide, kMaxImagePixels);
  if (size >= 2 && bytes[0] == 'P' && (bytes[1] == '5' || bytes[1] == '6')) check_pnm_header(bytes, size, name);
  int w = 0, h = 0, channels = 0;
  if (stb::info(bytes, static_cast<int>(size), &w, &h, &channels) &&
      (w > kMaxImageSide || h > kMaxImageSide || std::int64_t{w} * h > kMaxImagePixels))
    throw_data_error(name, ": a ", w, "x", h, " image is larger than minidl decodes (at most ", kMaxImageSide,
                     " pixels a side and ", kMaxImagePixels, " pixels); resize it first");
  const std::vector<std::uint8_t> cleaned = without_empty_png_idat(bytes, size);
  if (!cleaned.empty()) {
    bytes = cleaned.data();
    size = cleaned.size();
  }
  // Ask stb for the file's own channel count and convert here, so the luma weights are ours
  // (stb's own RGB->gray uses different ones).
  const stb::Pixels p = stb::load(bytes, static_cast<int>(size));
  if (!p.data) {
    const char* why = stb::failure_reason();
    throw_data_error(name, ": cannot decode image (", why && *why ? why : "unknown reason",
                     "); expected a PNG, JPEG, BMP, GIF, TGA or PGM/PPM file");
  }
  if (p.w <= 0 || p.h <= 0) throw_data_error(name, ": decoded to an empty image ", p.h, "x", p.w);
  return out_channels == 1 ? to_gray(p.data.get(), p.h, p.w, p.channels)
                           : to_rgb_planes(p.data.get(), p.h, p.w, p.channels);
}

GrayImage load_image_gray(const std::string& path) { return load_image(path, 1); }

Image load_image(const std::string& path, int channels) {
  const std::string bytes = read_regular_file(path);
  return decode_image(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), path, channels);
}

void save_image(const std::string& path, const GrayImage& image) {
  if (image.h <= 0 || image.w <= 0 || static_cast<std::int64_t>(image.pixels.size()) != image.h * image.w)
    throw_data_error(path, ": cannot write an image of ", image.h, "x", image.w, " with ", image.pixels.size(),
                     " pixels");
  const std::string ext = lower_extension(path);
  // Encoded in memory, then written through AtomicFile: stb's own file writers ignore write
  // errors (a full disk gave empty PNGs), and would write through a FIFO or a device.
  std::string bytes;
  auto append = [](void* ctx, void* data, int size) { static_cast<std::string*>(ctx)->append(static_cast<char*>(data), size); };
  const int w = static_cast<int>(image.w), h = static_cast<int>(image.h);
  bool ok = false;
  if (ext == "png")
    ok = stb::write_png_to(append, &bytes, w, h, 1, image.pixels.data(), w);
  else if (ext == "bmp")
    ok = stb::write_bmp_to(append, &bytes, w, h, 1, image.pixels.data());
  else if (ext == "jpg" || ext == "jpeg")
    ok = stb::write_jpg_to(append, &bytes, w, h, 1, image.pixels.data(), 95);
  else
    throw_data_error(path, ": cannot write images of type '", ext, "' (use .png, .bmp or .jpg)");
  if (!ok) throw_data_error(path, ": cannot encode a ", h, "x", w, " image");
  write_file_atomic(path, bytes.data(), bytes.size(), "save_image", /*durable=*/false);
}

namespace {
std::vector<std::uint8_t> png_bytes(const std::uint8_t* pixels, std::int64_t h, std::int64_t w, int channels,
                                    const char* what) {
  if (h <= 0 || w <= 0 || h > INT32_MAX / channels || w > INT32_MAX / channels)
    throw_data_error(what, ": cannot encode a ", h, "x", w, " image");
  std::vector<std::uint8_t> out;
  auto append = [](void* ctx, void* data, int size) {
    auto* v = static_cast<std::vector<std::uint8_t>*>(ctx);
    v->insert(v->end(), static_cast<std::uint8_t*>(data), static_cast<std::uint8_t*>(data) + size);
  };
  if (!stb::write_png_to(append, &out, static_cast<int>(w), static_cast<int>(h), channels, pixels,
                         static_cast<int>(w) * channels))
    throw_data_error(what, ": cannot encode a ", h, "x", w, " image");
  return out;
}
}  // namespace

std::vector<std::uint8_t> encode_png(const GrayImage& image) {
  if (static_cast<std::int64_t>(image.pixels.size()) != image.h * image.w)
    throw_data_error("encode_png: cannot encode a ", image.h, "x", image.w, " image holding ", image.pixels.size(),
                     " pixels");
  return png_bytes(image.pixels.data(), image.h, image.w, 1, "encode_png");
}

std::vector<std::uint8_t> encode_png_rgb(const std::uint8_t* rgb, std::int64_t h, std::int64_t w) {
  return png_bytes(rgb, h, w, 3, "encode_png_rgb");
}

bool is_image_file_name(const std::string& name) {
  static const char* const kExtensions[] = {"png", "jpg", "jpeg", "bmp", "gif", "tga", "pgm", "ppm", "pnm"};
  const std::string ext = lower_extension(name);
  for (const char* e : kExtensions)
    if (ext == e) return true;
  return false;
}

}  // namespace minidl::data
