// Checks a JPEG before stb_image decodes it, for the two ways Debian's stb_image 2.27 misbehaves
// on corrupt JPEGs (both found by fuzzing; docs/reliability.md, findings 2, 3 and 5):
// - a DHT segment with more than 256 codes overruns its Huffman tables;
// - entropy-coded data that ends (at a marker or at the end of the file) before the blocks it
//   must hold makes its bit reader count below zero and shift by 32 or more (upstream added
//   the missing checks in 2.28).
// Both are refused with a DataError naming the file. Internal to data/ (image_io.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace minidl::data {

// Walks the file exactly as stb_image 2.27 decodes it: the same markers, tables, scans, restart
// intervals and bit reader, without the arithmetic on pixels. Returns without a word where stb
// would itself refuse the file (it then does so with its own reason); throws where stb would
// misbehave. A file that does not start like a JPEG is left alone, and so is the image data of
// one larger than max_side pixels a side or max_pixels in all (the caller refuses those).
void check_jpeg_for_stb(const std::uint8_t* bytes, std::size_t size, const std::string& name, std::int64_t max_side,
                        std::int64_t max_pixels);

}  // namespace minidl::data
