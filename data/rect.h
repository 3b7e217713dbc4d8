// An axis-aligned box in pixel coordinates (x, y of the top-left corner, width, height), as
// detectors report objects, and the two operations on boxes that detection needs: the
// intersection-over-union overlap, and OpenCV's groupRectangles.
#pragma once

#include <cstdint>
#include <vector>

namespace minidl::data {

struct Rect {
  std::int64_t x = 0, y = 0, width = 0, height = 0;

  std::int64_t area() const { return width > 0 && height > 0 ? width * height : 0; }
  bool operator==(const Rect& o) const { return x == o.x && y == o.y && width == o.width && height == o.height; }
};

// The overlap of two boxes over their union (0 when disjoint or empty).
double iou(const Rect& a, const Rect& b);
// The part of a box inside [0, w) x [0, h) (width or height 0 when none is).
Rect clip(const Rect& r, std::int64_t w, std::int64_t h);

// OpenCV's cv::groupRectangles(rects, group_threshold, eps): boxes whose corners are all
// within eps * (mean of the two smaller sides) / 2 of each other are joined (transitively)
// into clusters; each cluster with more than group_threshold members becomes its average box;
// a box inside a bigger cluster's box (with eps slack) is dropped when that cluster has more
// members (and more than 3) or when it has fewer than 3 itself. With group_threshold <= 0 the
// boxes come back unchanged. `neighbours`, when given, receives each output's cluster size.
std::vector<Rect> group_rectangles(const std::vector<Rect>& rects, int group_threshold, double eps = 0.2,
                                   std::vector<int>* neighbours = nullptr);

}  // namespace minidl::data
