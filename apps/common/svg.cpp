#include "common/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "minidl/base/error.h"

namespace minidl::app {

namespace {

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// A "nice" tick step (1, 2 or 5 times a power of ten) giving about `target` ticks over span.
double nice_step(double span, int target) {
  const double raw = span / target;
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * p) return m * p;
  return 10 * p;
}

std::string tick_label(double v, double step) {
  char buf[32];
  const int decimals = step >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(step)));
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

}  // namespace

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string line_chart_fragment(const LineChart& chart, double x0, double y0, double width, double height) {
  const double left = 60, right = 20, top = 30, bottom = 45;
  const double pw = width - left - right, ph = height - top - bottom;
  double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin, ymin = xmin, ymax = -xmin;
  for (const auto& s : chart.series)
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      xmin = std::min(xmin, s.x[i]);
      xmax = std::max(xmax, s.x[i]);
      ymin = std::min(ymin, s.y[i]);
      ymax = std::max(ymax, s.y[i]);
    }
  if (!std::isfinite(xmin)) xmin = 0, xmax = 1, ymin = 0, ymax = 1;
  if (chart.y_min != chart.y_max) ymin = chart.y_min, ymax = chart.y_max;
  if (xmax == xmin) xmax = xmin + 1;
  if (ymax == ymin) ymax = ymin + 1;
  const double ystep = nice_step(ymax - ymin, 5);
  ymin = std::floor(ymin / ystep) * ystep;
  ymax = std::ceil(ymax / ystep) * ystep;
  auto px = [&](double v) { return x0 + left + (v - xmin) / (xmax - xmin) * pw; };
  auto py = [&](double v) { return y0 + top + (1 - (v - ymin) / (ymax - ymin)) * ph; };

  std::ostringstream o;
  o << "<g font-family=\"sans-serif\" font-size=\"12\">\n";
  o << "<text x=\"" << fmt(x0 + width / 2) << "\" y=\"" << fmt(y0 + 18)
    << "\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">" << xml_escape(chart.title) << "</text>\n";
  for (double v = ymin; v <= ymax + ystep / 2; v += ystep) {
    o << "<line x1=\"" << fmt(px(xmin)) << "\" x2=\"" << fmt(px(xmax)) << "\" y1=\"" << fmt(py(v)) << "\" y2=\""
      << fmt(py(v)) << "\" stroke=\"#ddd\"/>\n";
    o << "<text x=\"" << fmt(px(xmin) - 6) << "\" y=\"" << fmt(py(v) + 4) << "\" text-anchor=\"end\">"
      << tick_label(v, ystep) << "</text>\n";
  }
  const double xstep = std::max(1.0, nice_step(xmax - xmin, 8));
  for (double v = std::ceil(xmin / xstep) * xstep; v <= xmax + 1e-9; v += xstep)
    o << "<text x=\"" << fmt(px(v)) << "\" y=\"" << fmt(py(ymin) + 16) << "\" text-anchor=\"middle\">"
      << tick_label(v, xstep) << "</text>\n";
  o << "<rect x=\"" << fmt(px(xmin)) << "\" y=\"" << fmt(py(ymax)) << "\" width=\"" << fmt(pw) << "\" height=\""
    << fmt(ph) << "\" fill=\"none\" stroke=\"#444\"/>\n";
  o << "<text x=\"" << fmt(x0 + left + pw / 2) << "\" y=\"" << fmt(y0 + height - 8) << "\" text-anchor=\"middle\">"
    << xml_escape(chart.x_label) << "</text>\n";
  o << "<text transform=\"translate(" << fmt(x0 + 14) << "," << fmt(y0 + top + ph / 2)
    << ") rotate(-90)\" text-anchor=\"middle\">" << xml_escape(chart.y_label) << "</text>\n";
  double ly = py(ymax) + 14;
  for (const auto& s : chart.series) {
    std::string points;
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
      if (std::isfinite(s.y[i])) points += fmt(px(s.x[i])) + "," + fmt(py(s.y[i])) + " ";
    const char* dash = s.dashed ? " stroke-dasharray=\"6,4\"" : "";
    o << "<polyline fill=\"none\" stroke=\"" << s.color << "\" stroke-width=\"2\"" << dash << " points=\"" << points
      << "\"/>\n";
    if (s.x.size() == 1)  // a single point has no line: mark it
      o << "<circle cx=\"" << fmt(px(s.x[0])) << "\" cy=\"" << fmt(py(s.y[0])) << "\" r=\"3\" fill=\"" << s.color
        << "\"/>\n";
    const double lx = px(xmax) - 150;
    o << "<line x1=\"" << fmt(lx) << "\" x2=\"" << fmt(lx + 22) << "\" y1=\"" << fmt(ly - 4) << "\" y2=\"" << fmt(ly - 4)
      << "\" stroke=\"" << s.color << "\" stroke-width=\"2\"" << dash << "/>\n";
    o << "<text x=\"" << fmt(lx + 28) << "\" y=\"" << fmt(ly) << "\">" << xml_escape(s.name) << "</text>\n";
    ly += 16;
  }
  o << "</g>\n";
  return o.str();
}

std::string heatmap_fragment(const Heatmap& map, double x0, double y0, double width, double height) {
  const std::size_t rows = map.row_labels.size(), cols = map.col_labels.size();
  const double left = 90, top = 40, right = 10, bottom = 80;
  const double cw = (width - left - right) / std::max<std::size_t>(cols, 1);
  const double ch = (height - top - bottom) / std::max<std::size_t>(rows, 1);
  std::ostringstream o;
  o << "<g font-family=\"sans-serif\" font-size=\"12\">\n";
  o << "<text x=\"" << fmt(x0 + width / 2) << "\" y=\"" << fmt(y0 + 20)
    << "\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">" << xml_escape(map.title) << "</text>\n";
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < cols; ++c) {
      const double v = std::clamp(map.values[r][c], 0.0, 1.0);
      // White to dark blue; text switches to white on dark cells.
      const int R = static_cast<int>(255 - v * (255 - 8)), G = static_cast<int>(255 - v * (255 - 48)),
                B = static_cast<int>(255 - v * (255 - 107));
      const double cx = x0 + left + c * cw, cy = y0 + top + r * ch;
      o << "<rect x=\"" << fmt(cx) << "\" y=\"" << fmt(cy) << "\" width=\"" << fmt(cw) << "\" height=\"" << fmt(ch)
        << "\" fill=\"rgb(" << R << "," << G << "," << B << ")\" stroke=\"#fff\"/>\n";
      if (r < map.cell_text.size() && c < map.cell_text[r].size())
        o << "<text x=\"" << fmt(cx + cw / 2) << "\" y=\"" << fmt(cy + ch / 2 + 4) << "\" text-anchor=\"middle\" fill=\""
          << (v > 0.5 ? "#fff" : "#000") << "\">" << xml_escape(map.cell_text[r][c]) << "</text>\n";
    }
    o << "<text x=\"" << fmt(x0 + left - 6) << "\" y=\"" << fmt(y0 + top + r * ch + ch / 2 + 4)
      << "\" text-anchor=\"end\">" << xml_escape(map.row_labels[r]) << "</text>\n";
  }
  for (std::size_t c = 0; c < cols; ++c) {
    const double cx = x0 + left + c * cw + cw / 2, cy = y0 + top + rows * ch + 10;
    o << "<text transform=\"translate(" << fmt(cx) << "," << fmt(cy) << ") rotate(40)\" text-anchor=\"start\">"
      << xml_escape(map.col_labels[c]) << "</text>\n";
  }
  o << "<text x=\"" << fmt(x0 + left + cols * cw / 2) << "\" y=\"" << fmt(y0 + height - 6)
    << "\" text-anchor=\"middle\" font-style=\"italic\">" << xml_escape(map.x_label) << "</text>\n";
  o << "<text transform=\"translate(" << fmt(x0 + 12) << "," << fmt(y0 + top + rows * ch / 2)
    << ") rotate(-90)\" text-anchor=\"middle\" font-style=\"italic\">" << xml_escape(map.y_label) << "</text>\n";
  o << "</g>\n";
  return o.str();
}

std::string svg_document(double width, double height, const std::vector<std::string>& fragments) {
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << fmt(width) << "\" height=\"" << fmt(height)
    << "\" viewBox=\"0 0 " << fmt(width) << " " << fmt(height) << "\">\n<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n";
  for (const auto& f : fragments) o << f;
  o << "</svg>\n";
  return o.str();
}

void write_file_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    MINIDL_CHECK(f.good(), "cannot write ", tmp);
    f << text;
    f.flush();
    MINIDL_CHECK(f.good(), "cannot write ", tmp, " (disk full?)");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  MINIDL_CHECK(!ec, "cannot rename ", tmp, " to ", path, ": ", ec.message());
}

}  // namespace minidl::app
