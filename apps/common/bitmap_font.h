// A 5x7 bitmap font drawn for minidl (upper-case letters, digits and the punctuation that
// labels use), for writing labels into images without a font library. Lower case is drawn as
// upper case; any other byte as '?'.
#pragma once

#include <string>

namespace minidl::app {

constexpr int kGlyphWidth = 5, kGlyphHeight = 7;

// Whether pixel (x, y) of the glyph for `c` is set (0 <= x < 5, 0 <= y < 7).
bool glyph_pixel(char c, int x, int y);

}  // namespace minidl::app
