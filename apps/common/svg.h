// Small SVG figures for the run folder: line charts (loss and accuracy curves) and a labelled
// heatmap (the confusion matrix). Hand-written so the apps need no plotting dependency; the
// output opens in any browser and inlines into report.html.
#pragma once

#include <string>
#include <vector>

namespace minidl::app {

struct Series {
  std::string name;
  std::vector<double> x, y;
  std::string color = "#1f77b4";
  bool dashed = false;
};

struct LineChart {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  double y_min = 0, y_max = 0;  // both 0: fitted to the data
};

// One chart as a <g> fragment of the given size, placed at (x, y) in a larger document.
std::string line_chart_fragment(const LineChart& chart, double x, double y, double width, double height);

struct Heatmap {
  std::string title;
  std::vector<std::string> row_labels, col_labels;
  std::vector<std::vector<double>> values;  // colour by value in [0, 1]
  std::vector<std::vector<std::string>> cell_text;
  std::string x_label = "predicted", y_label = "true";
};

std::string heatmap_fragment(const Heatmap& map, double x, double y, double width, double height);

// A whole document of the given size around fragments.
std::string svg_document(double width, double height, const std::vector<std::string>& fragments);

// Escapes &, <, > and quotes for text and attributes.
std::string xml_escape(const std::string& s);

}  // namespace minidl::app
