// Cascade::detect: OpenCV's detectMultiScale (objdetect/src/cascadedetect.cpp, 4.x), step by
// step, so the same cascade and image give the same boxes:
//  - the scales: factor 1, scale_factor, scale_factor^2, ... while the window (rounded) fits
//    the image and max_size; levels whose window is under min_size are skipped;
//  - each level is the image resized bilinearly to round(size / factor), with integral images
//    of the pixels and of their squares (32-bit, wrapping as OpenCV's do: only differences over
//    a window are used, and those fit);
//  - the window moves by 2 pixels (1 once the factor reaches 2), and 2 more across when the
//    first stage already rejects it;
//  - Haar feature values are divided by the window's standard deviation times its area
//    (computed over the window less a 1-pixel border); windows too flat for that are skipped;
//  - a stage passes when the sum of its trees' leaves reaches its threshold; a window that
//    passes every stage is a hit at (x, y, window) * factor;
//  - the hits are grouped by group_rectangles(hits, min_neighbors, 0.2) and clipped.
// Single precision where OpenCV uses it (feature values, thresholds, the normalisation factor),
// and this file is compiled without floating-point contraction (CMakeLists.txt) so no fused
// multiply-add changes a rounding OpenCV does not make.
#include <cmath>
#include <cstdint>
#include <vector>

#include "minidl/base/error.h"
#include "minidl/data/cascade.h"
#include "minidl/data/resize_bilinear.h"

namespace minidl::data {

namespace {

// Integral image with a zero first row and column, (h + 1) x (w + 1), in wrapping 32-bit
// arithmetic as OpenCV's CV_32S integrals (sums of differences over a window are exact).
struct Integral {
  std::int64_t stride = 0;
  std::vector<std::uint32_t> sum, sqsum;
};

Integral integral(const GrayImage& img, bool squares) {
  Integral in;
  in.stride = img.w + 1;
  const std::size_t n = static_cast<std::size_t>((img.h + 1) * in.stride);
  in.sum.assign(n, 0u);
  if (squares) in.sqsum.assign(n, 0u);
  for (std::int64_t y = 0; y < img.h; ++y) {
    std::uint32_t row = 0, row_sq = 0;
    const std::uint8_t* p = &img.pixels[static_cast<std::size_t>(y * img.w)];
    std::uint32_t* above = &in.sum[static_cast<std::size_t>(y * in.stride)];
    std::uint32_t* cur = above + in.stride;
    for (std::int64_t x = 0; x < img.w; ++x) {
      row += p[x];
      cur[x + 1] = above[x + 1] + row;
    }
    if (squares) {
      std::uint32_t* above_sq = &in.sqsum[static_cast<std::size_t>(y * in.stride)];
      std::uint32_t* cur_sq = above_sq + in.stride;
      for (std::int64_t x = 0; x < img.w; ++x) {
        row_sq += std::uint32_t{p[x]} * p[x];
        cur_sq[x + 1] = above_sq[x + 1] + row_sq;
      }
    }
  }
  return in;
}

// A rectangle's sum in an integral image as four offsets from the window's corner, fixed once
// per pyramid level (OpenCV's OptFeature): p[a] - p[b] - p[c] + p[d], the wrapped difference
// read as a signed 32-bit value, as OpenCV reads it.
struct Corners {
  std::int32_t a = 0, b = 0, c = 0, d = 0;  // a window spans fewer than 2^31 integral elements
  Corners() = default;
  Corners(std::int64_t x, std::int64_t y, std::int64_t w, std::int64_t h, std::int64_t stride)
      : a(static_cast<std::int32_t>(y * stride + x)),
        b(static_cast<std::int32_t>(y * stride + x + w)),
        c(static_cast<std::int32_t>((y + h) * stride + x)),
        d(static_cast<std::int32_t>((y + h) * stride + x + w)) {}
  std::int32_t sum(const std::uint32_t* p) const { return static_cast<std::int32_t>(p[a] - p[b] - p[c] + p[d]); }
};

class Evaluator {
 public:
  Evaluator(const Cascade& c, const Integral& in) : c_(c), in_(in) {
    const std::int64_t nw = c.window_width() - 2, nh = c.window_height() - 2, s = in.stride;
    norm_area_ = static_cast<double>(nw * nh);
    norm_ = Corners(1, 1, nw, nh, s);
    for (const Cascade::Feature& f : c.features()) {
      if (c.feature_type() == Cascade::FeatureType::Haar) {
        Haar h;
        for (int i = 0; i < 3; ++i) {
          const auto& r = f.rects[i];
          h.rect[i] = Corners(r.x, r.y, r.w, r.h, s);
          h.weight[i] = r.weight;
        }
        haar_.push_back(h);
      } else {
        // The 3x3 blocks as sums of neighbouring grid points, clockwise from the top-left block
        // (bit 7) as OpenCV numbers them, the centre block last.
        const std::int64_t x = f.lbp[0], y = f.lbp[1], w = f.lbp[2], h = f.lbp[3];
        const int order[9][2] = {{0, 0}, {1, 0}, {2, 0}, {2, 1}, {2, 2}, {1, 2}, {0, 2}, {0, 1}, {1, 1}};
        Lbp l;
        for (int k = 0; k < 9; ++k) l.block[k] = Corners(x + order[k][0] * w, y + order[k][1] * h, w, h, s);
        lbp_.push_back(l);
      }
    }
    bool all_stumps = true;
    for (const Cascade::Tree& t : c.trees()) {
      const Cascade::Node& n = c.nodes()[static_cast<std::size_t>(t.first_node)];
      all_stumps = all_stumps && n.left <= 0 && n.right <= 0;
      stumps_.push_back({n.feature, n.threshold, c.leaves()[static_cast<std::size_t>(t.first_leaf - n.left)],
                         c.leaves()[static_cast<std::size_t>(t.first_leaf - n.right)]});
    }
    if (!all_stumps) stumps_.clear();
  }

  // OpenCV's runAt: 1 when every stage passes, -s when stage s rejects the window (so 0 when
  // the first stage does), -1 when a Haar window is too flat to normalise.
  int run_at(std::int64_t x, std::int64_t y) const {
    const std::uint32_t* win = in_.sum.data() + y * in_.stride + x;
    const bool haar = c_.feature_type() == Cascade::FeatureType::Haar;
    float norm = 1.f;
    if (haar) {
      const std::int32_t s = norm_.sum(win);
      const auto sq = static_cast<std::uint32_t>(norm_.sum(in_.sqsum.data() + y * in_.stride + x));
      double nf = norm_area_ * sq - static_cast<double>(s) * s;
      if (!(nf > 0.)) return -1;
      nf = std::sqrt(nf);
      norm = static_cast<float>(1. / nf);
      if (!(norm_area_ * norm < 1e-1)) return -1;
    }
    const auto& stages = c_.stages();
    if (!stumps_.empty() && haar) {  // the common case (every tree a single node), without the tree walk
      const Stump* st = stumps_.data();
      for (std::size_t si = 0; si < stages.size(); ++si) {
        double sum = 0;
        for (std::int32_t t = 0; t < stages[si].num_trees; ++t, ++st) {
          const double value = haar_value(haar_[static_cast<std::size_t>(st->feature)], win) * norm;
          sum += value < st->threshold ? st->left : st->right;
        }
        if (sum < stages[si].threshold) return -static_cast<int>(si);
      }
      return 1;
    }
    const auto& trees = c_.trees();
    const auto& nodes = c_.nodes();
    const auto& leaves = c_.leaves();
    for (std::size_t si = 0; si < stages.size(); ++si) {
      const Cascade::Stage& stage = stages[si];
      double sum = 0;
      for (std::int32_t t = 0; t < stage.num_trees; ++t) {
        const Cascade::Tree& tree = trees[static_cast<std::size_t>(stage.first_tree + t)];
        std::int32_t idx = 0;
        do {
          const Cascade::Node& node = nodes[static_cast<std::size_t>(tree.first_node + idx)];
          const auto f = static_cast<std::size_t>(node.feature);
          if (haar) {
            const double value = haar_value(haar_[f], win) * norm;
            idx = value < node.threshold ? node.left : node.right;
          } else {
            const int code = lbp_code(lbp_[f], win);
            const std::int32_t* subset = &c_.subsets()[static_cast<std::size_t>(node.subset)];
            idx = (subset[code >> 5] & (1 << (code & 31))) ? node.left : node.right;
          }
        } while (idx > 0);
        sum += leaves[static_cast<std::size_t>(tree.first_leaf - idx)];
      }
      if (sum < stage.threshold) return -static_cast<int>(si);
    }
    return 1;
  }

 private:
  struct Haar {
    Corners rect[3];
    float weight[3];
  };
  struct Lbp {
    Corners block[9];
  };
  struct Stump {
    std::int32_t feature;
    float threshold, left, right;
  };

  // Weighted sum of the feature's rectangles, in float as OpenCV's OptFeature::calc.
  static float haar_value(const Haar& h, const std::uint32_t* win) {
    float v = h.weight[0] * static_cast<float>(h.rect[0].sum(win)) + h.weight[1] * static_cast<float>(h.rect[1].sum(win));
    if (h.weight[2] != 0.0f) v += h.weight[2] * static_cast<float>(h.rect[2].sum(win));
    return v;
  }

  // The 8-bit local binary pattern: a bit per outer block, set where its sum is at least the
  // centre block's.
  static int lbp_code(const Lbp& l, const std::uint32_t* win) {
    const std::int32_t centre = l.block[8].sum(win);
    int code = 0;
    for (int k = 0; k < 8; ++k) code = (code << 1) | (l.block[k].sum(win) >= centre ? 1 : 0);
    return code;
  }

  const Cascade& c_;
  const Integral& in_;
  double norm_area_ = 0;
  Corners norm_;
  std::vector<Haar> haar_;
  std::vector<Lbp> lbp_;
  std::vector<Stump> stumps_;  // in stage order; empty unless every tree is one node
};

// cvRound: to nearest, ties to even.
inline std::int64_t round_even(double v) { return static_cast<std::int64_t>(std::nearbyint(v)); }

}  // namespace

std::vector<Rect> Cascade::detect(const GrayImage& image, const DetectOptions& o) const {
  std::vector<Rect> out;
  for (const Rect& r : group_rectangles(detect_raw(image, o), o.min_neighbors, 0.2)) {
    const Rect c = clip(r, image.w, image.h);
    if (c.area() > 0) out.push_back(c);
  }
  return out;
}

std::vector<Rect> Cascade::detect_raw(const GrayImage& image, const DetectOptions& o) const {
  MINIDL_CHECK(std::isfinite(o.scale_factor) && o.scale_factor > 1.0, "face detection: scale factor must be above 1, got ",
               o.scale_factor);
  MINIDL_CHECK(o.min_neighbors >= 0 && o.min_size >= 0 && o.max_size >= 0,
               "face detection: min_neighbors, min_size and max_size must not be negative");
  MINIDL_CHECK(!stages_.empty(), "face detection: the cascade is empty");
  if (image.empty()) return {};
  const std::int64_t max_w = o.max_size > 0 ? o.max_size : image.w, max_h = o.max_size > 0 ? o.max_size : image.h;

  std::vector<float> scales;
  for (double factor = 1;; factor *= o.scale_factor) {
    const std::int64_t ww = round_even(static_cast<double>(win_w_) * factor), wh = round_even(static_cast<double>(win_h_) * factor);
    if (ww > max_w || wh > max_h || ww > image.w || wh > image.h) break;
    if (ww < o.min_size || wh < o.min_size) continue;
    scales.push_back(static_cast<float>(factor));
  }

  std::vector<Rect> hits;
  for (const float sc : scales) {
    // Sizes in single precision, as OpenCV computes them from its float scales.
    const std::int64_t w = round_even(static_cast<float>(image.w) / sc), h = round_even(static_cast<float>(image.h) / sc);
    const std::int64_t work_w = w + 1 - win_w_, work_h = h + 1 - win_h_;
    if (w <= 0 || h <= 0 || work_w <= 0 || work_h <= 0) continue;
    const int step = sc >= 2.f ? 1 : 2;
    const std::int64_t out_w = round_even(static_cast<float>(win_w_) * sc), out_h = round_even(static_cast<float>(win_h_) * sc);
    const Integral in = integral(resize_bilinear(image, h, w), type_ == FeatureType::Haar);
    const Evaluator eval(*this, in);
    const std::int64_t rows = (work_h + step - 1) / step;
    std::vector<std::vector<Rect>> row_hits(static_cast<std::size_t>(rows));
#pragma omp parallel for schedule(dynamic, 4)
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::int64_t y = r * step;
      for (std::int64_t x = 0; x < work_w; x += step) {
        const int result = eval.run_at(x, y);
        if (result > 0)
          row_hits[static_cast<std::size_t>(r)].push_back(
              {round_even(static_cast<float>(x) * sc), round_even(static_cast<float>(y) * sc), out_w, out_h});
        if (result == 0) x += step;
      }
    }
    for (const auto& rh : row_hits) hits.insert(hits.end(), rh.begin(), rh.end());
  }

  return hits;
}

}  // namespace minidl::data
