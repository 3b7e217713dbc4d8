#include "minidl/data/rect.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <numeric>

namespace minidl::data {

double iou(const Rect& a, const Rect& b) {
  const std::int64_t x0 = std::max(a.x, b.x), y0 = std::max(a.y, b.y);
  const std::int64_t x1 = std::min(a.x + a.width, b.x + b.width), y1 = std::min(a.y + a.height, b.y + b.height);
  const std::int64_t inter = x1 > x0 && y1 > y0 ? (x1 - x0) * (y1 - y0) : 0;
  const std::int64_t uni = a.area() + b.area() - inter;
  return uni > 0 ? static_cast<double>(inter) / static_cast<double>(uni) : 0.0;
}

Rect clip(const Rect& r, std::int64_t w, std::int64_t h) {
  const std::int64_t x0 = std::clamp<std::int64_t>(r.x, 0, w), y0 = std::clamp<std::int64_t>(r.y, 0, h);
  const std::int64_t x1 = std::clamp<std::int64_t>(r.x + r.width, 0, w), y1 = std::clamp<std::int64_t>(r.y + r.height, 0, h);
  return {x0, y0, std::max<std::int64_t>(x1 - x0, 0), std::max<std::int64_t>(y1 - y0, 0)};
}

namespace {

// OpenCV's SimilarRects predicate.
bool similar(const Rect& a, const Rect& b, double eps) {
  const double delta = eps * (std::min(a.width, b.width) + std::min(a.height, b.height)) * 0.5;
  return std::abs(a.x - b.x) <= delta && std::abs(a.y - b.y) <= delta &&
         std::abs(a.x + a.width - b.x - b.width) <= delta && std::abs(a.y + a.height - b.y - b.height) <= delta;
}

// Connected components of `similar` (cv::partition computes the same classes with a
// union-find); classes are numbered in order of their first member.
std::vector<int> partition(const std::vector<Rect>& rects, double eps, int& nclasses) {
  const std::size_t n = rects.size();
  std::vector<std::size_t> parent(n);
  std::iota(parent.begin(), parent.end(), std::size_t{0});
  auto find = [&](std::size_t i) {
    while (parent[i] != i) i = parent[i] = parent[parent[i]];
    return i;
  };
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i + 1; j < n; ++j)
      if (similar(rects[i], rects[j], eps)) {
        const std::size_t a = find(i), b = find(j);
        if (a != b) parent[std::max(a, b)] = std::min(a, b);
      }
  std::vector<int> label(n), root_label(n, -1);
  nclasses = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t r = find(i);
    if (root_label[r] < 0) root_label[r] = nclasses++;
    label[i] = root_label[r];
  }
  return label;
}

// OpenCV's saturate_cast<int>(float): round half to even.
std::int64_t round_even(float v) { return static_cast<std::int64_t>(std::nearbyint(v)); }

}  // namespace

std::vector<Rect> group_rectangles(const std::vector<Rect>& rects, int group_threshold, double eps,
                                   std::vector<int>* neighbours) {
  if (group_threshold <= 0 || rects.empty()) {
    if (neighbours) neighbours->assign(rects.size(), 1);
    return rects;
  }
  int nclasses = 0;
  const std::vector<int> labels = partition(rects, eps, nclasses);
  std::vector<Rect> sum(static_cast<std::size_t>(nclasses));
  std::vector<int> count(static_cast<std::size_t>(nclasses), 0);
  for (std::size_t i = 0; i < rects.size(); ++i) {
    Rect& s = sum[static_cast<std::size_t>(labels[i])];
    s.x += rects[i].x;
    s.y += rects[i].y;
    s.width += rects[i].width;
    s.height += rects[i].height;
    ++count[static_cast<std::size_t>(labels[i])];
  }
  // The average, computed as OpenCV does (sum times a float reciprocal, rounded), so the boxes
  // agree to the pixel.
  std::vector<Rect> avg(sum.size());
  for (std::size_t c = 0; c < sum.size(); ++c) {
    const float s = 1.f / static_cast<float>(count[c]);
    avg[c] = {round_even(static_cast<float>(sum[c].x) * s), round_even(static_cast<float>(sum[c].y) * s),
              round_even(static_cast<float>(sum[c].width) * s), round_even(static_cast<float>(sum[c].height) * s)};
  }
  std::vector<Rect> out;
  if (neighbours) neighbours->clear();
  for (std::size_t i = 0; i < avg.size(); ++i) {
    const int n1 = count[i];
    if (n1 <= group_threshold) continue;
    const Rect& r1 = avg[i];
    bool inside = false;
    for (std::size_t j = 0; j < avg.size() && !inside; ++j) {
      const int n2 = count[j];
      if (j == i || n2 <= group_threshold) continue;
      const Rect& r2 = avg[j];
      const auto dx = static_cast<std::int64_t>(std::nearbyint(static_cast<double>(r2.width) * eps));
      const auto dy = static_cast<std::int64_t>(std::nearbyint(static_cast<double>(r2.height) * eps));
      inside = r1.x >= r2.x - dx && r1.y >= r2.y - dy && r1.x + r1.width <= r2.x + r2.width + dx &&
               r1.y + r1.height <= r2.y + r2.height + dy && (n2 > std::max(3, n1) || n1 < 3);
    }
    if (inside) continue;
    out.push_back(r1);
    if (neighbours) neighbours->push_back(n1);
  }
  return out;
}

}  // namespace minidl::data
