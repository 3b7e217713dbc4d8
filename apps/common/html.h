// Pieces of the self-contained HTML pages the apps write (report.html): the page frame with its
// style, images inlined as data URIs, files inlined as text.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "minidl/data/image.h"

namespace minidl::app {

// <!DOCTYPE html> ... <body> with the reports' style sheet, and the matching end.
std::string html_page_start(const std::string& title);
std::string html_page_end();

std::string base64(const std::vector<std::uint8_t>& bytes);
// "data:image/png;base64,..." for an <img src>.
std::string png_data_uri(const data::GrayImage& image);
std::string png_data_uri(const std::vector<std::uint8_t>& png_bytes);

// The whole file, or "" when it cannot be read (a report shows what there is).
std::string read_text_file(const std::string& path);

// 0.1234 -> "12.3%"
std::string pct(double fraction);

}  // namespace minidl::app
