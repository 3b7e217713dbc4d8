// An annotated copy of a photo for a person to look at: each detected face boxed in colour
// with its number, expression and probability written above it in a built-in bitmap font,
// over the grayscale image the model saw.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "minidl/data/image.h"
#include "minidl/data/rect.h"

namespace minidl::app {

struct Annotation {
  data::Rect box;
  std::string label;
};

// Interleaved RGB, h x w x 3.
std::vector<std::uint8_t> annotate_rgb(const data::GrayImage& image, const std::vector<Annotation>& annotations);
// The same as a PNG file, written atomically.
void save_annotated_png(const std::string& path, const data::GrayImage& image, const std::vector<Annotation>& annotations);

}  // namespace minidl::app
