#include "common/html.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "common/svg.h"
#include "minidl/data/image_io.h"

namespace minidl::app {

std::string html_page_start(const std::string& title) {
  return "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + xml_escape(title) +
         "</title>\n"
         "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
         "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}"
         "th{background:#f3f3f3}td:first-child{text-align:left}.grid{display:flex;flex-wrap:wrap;gap:10px}"
         ".cell{text-align:center;font-size:12px;width:110px}.cell img{width:96px;height:96px;image-rendering:pixelated;"
         "border:1px solid #999}.cell img.original{border:2px solid #000}code{background:#f3f3f3;padding:1px 4px}"
         ".cols{display:grid;grid-template-columns:1fr 1fr;gap:24px}.cols svg{width:100%;height:auto}"
         "svg.wide{max-width:100%;height:auto}</style></head><body>\n";
}

std::string html_page_end() { return "</body></html>\n"; }

std::string base64(const std::vector<std::uint8_t>& bytes) {
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += {table[v >> 18], table[(v >> 12) & 63], table[(v >> 6) & 63], table[v & 63]};
  }
  if (i + 1 == bytes.size()) {
    const unsigned v = bytes[i] << 16;
    out += {table[v >> 18], table[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == bytes.size()) {
    const unsigned v = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += {table[v >> 18], table[(v >> 12) & 63], table[(v >> 6) & 63], '='};
  }
  return out;
}

std::string png_data_uri(const std::vector<std::uint8_t>& png_bytes) { return "data:image/png;base64," + base64(png_bytes); }

std::string png_data_uri(const data::GrayImage& image) { return png_data_uri(data::encode_png(image)); }

std::string read_text_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string pct(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100 * fraction);
  return buf;
}

}  // namespace minidl::app
