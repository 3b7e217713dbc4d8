// Image files: decoding (PNG, JPEG, BMP, GIF, TGA, PGM/PPM through stb_image) straight to
// grayscale, and writing grayscale PNG/BMP/JPEG (stb_image_write), for the image-folder data
// set, the dataset writer app and anything that shows a person an image.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "minidl/data/image.h"

namespace minidl::data {

// Decodes any supported file to gray (ITU-R 601 luma for colour). Throws DataError naming the
// file and the reason (missing, unreadable, empty, not an image, corrupt).
GrayImage load_image_gray(const std::string& path);
// The same from bytes in memory; `name` is what an error message calls them.
GrayImage decode_image_gray(const std::uint8_t* bytes, std::size_t size, const std::string& name);

// Decodes to `channels` planes: 1 is load_image_gray, 3 is R, G, B (a gray file replicated).
Image load_image(const std::string& path, int channels);
Image decode_image(const std::uint8_t* bytes, std::size_t size, const std::string& name, int channels);

// Writes by extension: .png, .bmp, .jpg/.jpeg (quality 95), atomically and checked (see
// core/file_io.h). Throws DataError for a bad image or type, minidl::Error naming the file when
// it cannot be written (a full disk, a FIFO or device in its place).
void save_image(const std::string& path, const GrayImage& image);

// PNG bytes of a grayscale image, in memory (for images inlined into HTML reports).
std::vector<std::uint8_t> encode_png(const GrayImage& image);
// PNG bytes of an interleaved 8-bit RGB image (h x w x 3), for images drawn on in colour.
std::vector<std::uint8_t> encode_png_rgb(const std::uint8_t* rgb, std::int64_t h, std::int64_t w);

// Whether a file name has an extension load_image_gray reads (case-insensitive).
bool is_image_file_name(const std::string& name);

}  // namespace minidl::data
