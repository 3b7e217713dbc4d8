// The cascade detector on cascades written here, against a brute-force reference that sums
// pixels directly in double precision (no integral images, no float): the pyramid, the window
// steps, the variance normalisation, stumps, trees and LBP codes. The loader's checks, and
// group_rectangles on boxes whose grouping is worked out by hand. (test_face_photos.cpp checks
// the same code against OpenCV itself on real photos.)
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <set>
#include <tuple>

#include "minidl/data/cascade.h"
#include "minidl/data/face_crop.h"
#include "minidl/data/rect.h"
#include "minidl/data/resize_bilinear.h"
#include "test_data_helpers.h"

using namespace minidl;
using namespace minidl::data;
using namespace minidl::data::testing;
using Catch::Matchers::Contains;

namespace {

struct HaarRectSpec {
  int x, y, w, h;
  double weight;
};

std::string cascade_xml(const std::string& type, int win, int max_cat, const std::string& stages,
                        const std::string& features) {
  return "<?xml version=\"1.0\"?>\n<opencv_storage>\n<cascade type_id=\"opencv-cascade-classifier\">"
         "<stageType>BOOST</stageType>\n<featureType>" + type + "</featureType>\n<height>" + std::to_string(win) +
         "</height>\n<width>" + std::to_string(win) + "</width>\n<stageParams><maxWeakCount>3</maxWeakCount></stageParams>\n"
         "<featureParams><maxCatCount>" + std::to_string(max_cat) + "</maxCatCount></featureParams>\n<stageNum>2</stageNum>\n"
         "<stages>\n" + stages + "</stages>\n<features>\n" + features + "</features></cascade>\n</opencv_storage>\n";
}

std::string num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// One pyramid level as the reference sees it.
struct Level {
  float scale;
  GrayImage image;
  int step;
  std::int64_t out_w;
};

std::vector<Level> levels(const GrayImage& img, int win, double factor_step) {
  std::vector<Level> out;
  for (double f = 1;; f *= factor_step) {
    const auto ww = static_cast<std::int64_t>(std::nearbyint(win * f));
    if (ww > img.w || ww > img.h) break;
    const auto sc = static_cast<float>(f);
    const auto w = static_cast<std::int64_t>(std::nearbyint(static_cast<float>(img.w) / sc));
    const auto h = static_cast<std::int64_t>(std::nearbyint(static_cast<float>(img.h) / sc));
    if (w < win || h < win) continue;
    out.push_back({sc, resize_bilinear(img, h, w), sc >= 2.f ? 1 : 2,
                   static_cast<std::int64_t>(std::nearbyint(static_cast<float>(win) * sc))});
  }
  return out;
}

double box_sum(const GrayImage& L, std::int64_t x, std::int64_t y, std::int64_t w, std::int64_t h, bool squares = false) {
  double s = 0;
  for (std::int64_t yy = y; yy < y + h; ++yy)
    for (std::int64_t xx = x; xx < x + w; ++xx) {
      const double v = L.at(yy, xx);
      s += squares ? v * v : v;
    }
  return s;
}

using Hit = std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t>;
std::set<Hit> as_set(const std::vector<Rect>& r) {
  std::set<Hit> s;
  for (const auto& b : r) s.insert({b.x, b.y, b.width, b.height});
  return s;
}

// Haar value of a window normalised as the cascade does, or NaN when the window is too flat.
double haar_value(const GrayImage& L, std::int64_t x, std::int64_t y, int win, const std::vector<HaarRectSpec>& f) {
  const double area = (win - 2) * (win - 2);
  const double s = box_sum(L, x + 1, y + 1, win - 2, win - 2), q = box_sum(L, x + 1, y + 1, win - 2, win - 2, true);
  const double nf = area * q - s * s;
  if (!(nf > 0) || !(area / std::sqrt(nf) < 0.1)) return std::nan("");
  double v = 0;
  for (const auto& r : f) v += r.weight * box_sum(L, x + r.x, y + r.y, r.w, r.h);
  return v / std::sqrt(nf);
}

// A threshold in the widest gap between sorted values near their median, so that no value lies
// within rounding distance of it.
double gap_threshold(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  REQUIRE(v.size() > 10);
  std::size_t best = v.size() / 3;
  for (std::size_t i = v.size() / 3; i < 2 * v.size() / 3; ++i)
    if (v[i + 1] - v[i] > v[best + 1] - v[best]) best = i;
  REQUIRE(v[best + 1] - v[best] > 1e-4);
  return 0.5 * (v[best] + v[best + 1]);
}

// A window of a level as a box in the image, clipped to it as detectMultiScale clips.
Hit hit(const GrayImage& img, std::int64_t x, std::int64_t y, const Level& L) {
  const auto x0 = std::lrint(static_cast<float>(x) * L.scale), y0 = std::lrint(static_cast<float>(y) * L.scale);
  return {x0, y0, std::min(L.out_w, img.w - x0), std::min(L.out_w, img.h - y0)};
}

// The hits in one set and not the other, for the failure message.
std::string difference(const std::set<Hit>& got, const std::set<Hit>& want) {
  std::string s;
  auto put = [&](const char* what, const std::set<Hit>& a, const std::set<Hit>& b) {
    int n = 0;
    for (const auto& h : a)
      if (!b.count(h) && n++ < 10)
        s += std::string(what) + " (" + std::to_string(std::get<0>(h)) + "," + std::to_string(std::get<1>(h)) + "," +
             std::to_string(std::get<2>(h)) + "," + std::to_string(std::get<3>(h)) + ") ";
  };
  put("extra", got, want);
  put("missing", want, got);
  return s;
}

}  // namespace

TEST_CASE("cascade: a Haar stump and a Haar tree give the windows a brute-force reference gives", "[data][cascade]") {
  const int win = 8;
  const double factor = 1.25;
  const std::vector<HaarRectSpec> f0 = {{1, 1, 6, 3, -1.0}, {1, 4, 6, 3, 1.0}};               // top vs bottom
  const std::vector<HaarRectSpec> f1 = {{0, 0, 8, 8, -1.0}, {2, 2, 4, 4, 4.0}};               // centre vs all
  const std::vector<HaarRectSpec> f2 = {{0, 0, 3, 8, -1.0}, {3, 0, 2, 8, 3.0}, {5, 0, 3, 8, -1.0}};  // three bars
  for (std::uint32_t seed : {1u, 2u, 3u}) {
    INFO("seed " << seed);
    GrayImage img = random_image(37, 45, seed);
    // Some flat patches, which the variance test must reject.
    for (std::int64_t y = 0; y < 10; ++y)
      for (std::int64_t x = 0; x < 12; ++x) img.at(y, x) = 90;
    const auto lv = levels(img, win, factor);
    REQUIRE(lv.size() >= 5);
    REQUIRE(lv.back().step == 1);  // both window steps are exercised
    // Thresholds in gaps of the values the reference sees.
    std::vector<double> v0, v1, v2;
    for (const auto& L : lv)
      for (std::int64_t y = 0; y + win <= L.image.h; ++y)
        for (std::int64_t x = 0; x + win <= L.image.w; ++x) {
          const double a = haar_value(L.image, x, y, win, f0);
          if (std::isnan(a)) continue;
          v0.push_back(a);
          v1.push_back(haar_value(L.image, x, y, win, f1));
          v2.push_back(haar_value(L.image, x, y, win, f2));
        }
    const double t0 = gap_threshold(v0), t1 = gap_threshold(v1), t2 = gap_threshold(v2);
    // Stage 0: one stump, passes when f0 >= t0. Stage 1: a two-node tree: f1 < t1 -> leaf 0
    // (fails), else node 1: f2 < t2 -> leaf 1 (passes), else leaf 2 (fails).
    const std::string stages =
        "<_><maxWeakCount>1</maxWeakCount><stageThreshold>0.</stageThreshold><weakClassifiers>"
        "<_><internalNodes>0 -1 0 " + num(t0) + "</internalNodes><leafValues>-1. 1.</leafValues></_></weakClassifiers></_>\n"
        "<_><maxWeakCount>1</maxWeakCount><stageThreshold>0.</stageThreshold><weakClassifiers>"
        "<_><internalNodes>0 1 1 " + num(t1) + " -1 -2 2 " + num(t2) + "</internalNodes><leafValues>-1. 1. -1.</leafValues></_>"
        "</weakClassifiers></_>\n";
    auto feature = [](const std::vector<HaarRectSpec>& f) {
      std::string s = "<_><rects>";
      for (const auto& r : f)
        s += "<_>" + std::to_string(r.x) + " " + std::to_string(r.y) + " " + std::to_string(r.w) + " " + std::to_string(r.h) +
             " " + num(r.weight) + "</_>";
      return s + "</rects><tilted>0</tilted></_>\n";
    };
    const Cascade c = Cascade::parse(cascade_xml("HAAR", win, 0, stages, feature(f0) + feature(f1) + feature(f2)), "t.xml");
    CHECK(c.num_stages() == 2);

    std::set<Hit> want, sized;  // sized: those of levels whose window is 11 to 20 pixels
    std::int64_t flat = 0;
    for (const auto& L : lv)
      for (std::int64_t y = 0; y + win <= L.image.h; y += L.step)
        for (std::int64_t x = 0; x + win <= L.image.w; x += L.step) {
          const double a = haar_value(L.image, x, y, win, f0);
          if (std::isnan(a)) {
            ++flat;
            continue;  // rejected before any stage: the next window is not skipped
          }
          if (a < t0) {
            x += L.step;  // the first stage rejected it: OpenCV skips one more window
            continue;
          }
          const double b = haar_value(L.image, x, y, win, f1), d = haar_value(L.image, x, y, win, f2);
          if (b >= t1 && d < t2) {
            want.insert(hit(img, x, y, L));
            if (L.out_w >= 11 && L.out_w <= 20) sized.insert(hit(img, x, y, L));
          }
        }
    CHECK(flat > 0);
    REQUIRE(want.size() > 10);
    DetectOptions o;
    o.scale_factor = factor;
    o.min_neighbors = 0;  // the raw hits
    const auto got = as_set(c.detect(img, o));
    INFO(difference(got, want));
    CHECK(got == want);
    // min_size and max_size drop exactly the levels outside them.
    o.min_size = 11;
    o.max_size = 20;
    CHECK(as_set(c.detect(img, o)) == sized);
  }
}

TEST_CASE("cascade: an LBP stump gives the windows a brute-force reference gives", "[data][cascade]") {
  const int win = 9;
  const int fx = 1, fy = 2, bw = 2, bh = 2;
  std::mt19937 gen(5);
  std::uint32_t subset[8];
  for (auto& s : subset) s = gen();
  std::string words;
  for (auto s : subset) words += " " + std::to_string(static_cast<std::int32_t>(s));
  const std::string stages = "<_><maxWeakCount>1</maxWeakCount><stageThreshold>0.</stageThreshold><weakClassifiers>"
                             "<_><internalNodes>0 -1 0" + words + "</internalNodes><leafValues>1. -1.</leafValues></_>"
                             "</weakClassifiers></_>\n";
  const std::string features = "<_><rect>" + std::to_string(fx) + " " + std::to_string(fy) + " " + std::to_string(bw) + " " +
                               std::to_string(bh) + "</rect></_>\n";
  const Cascade c = Cascade::parse(cascade_xml("LBP", win, 256, stages, features), "lbp.xml");
  CHECK(c.feature_type() == Cascade::FeatureType::Lbp);
  const GrayImage img = random_image(41, 30, 9);
  std::set<Hit> want;
  for (const auto& L : levels(img, win, 1.2))
    for (std::int64_t y = 0; y + win <= L.image.h; y += L.step)
      for (std::int64_t x = 0; x + win <= L.image.w; x += L.step) {
        auto blk = [&](int i, int j) { return box_sum(L.image, x + fx + i * bw, y + fy + j * bh, bw, bh); };
        const double centre = blk(1, 1);
        // Neighbours clockwise from the top-left, most significant bit first.
        const int order[8][2] = {{0, 0}, {1, 0}, {2, 0}, {2, 1}, {2, 2}, {1, 2}, {0, 2}, {0, 1}};
        int code = 0;
        for (int k = 0; k < 8; ++k) code = code << 1 | (blk(order[k][0], order[k][1]) >= centre ? 1 : 0);
        if ((subset[code >> 5] >> (code & 31)) & 1u)
          want.insert(hit(img, x, y, L));
        else
          x += L.step;
      }
  REQUIRE(want.size() > 10);
  DetectOptions o;
  o.scale_factor = 1.2;
  o.min_neighbors = 0;
  const auto got = as_set(c.detect(img, o));
  INFO(difference(got, want));
  CHECK(got == want);
}

TEST_CASE("cascade: malformed or unsupported cascade files are refused with the file and line", "[data][cascade]") {
  const std::string stump = "<_><maxWeakCount>1</maxWeakCount><stageThreshold>0.</stageThreshold><weakClassifiers>"
                            "<_><internalNodes>0 -1 0 0.5</internalNodes><leafValues>-1. 1.</leafValues></_></weakClassifiers></_>\n";
  const std::string feat = "<_><rects><_>0 0 4 8 -1.</_><_>4 0 4 8 1.</_></rects><tilted>0</tilted></_>\n";
  CHECK_NOTHROW(Cascade::parse(cascade_xml("HAAR", 8, 0, stump, feat), "ok.xml"));
  auto fails = [](const std::string& xml, const std::string& says) {
    INFO(xml);
    CHECK_THAT(data_error_of([&] { Cascade::parse(xml, "c.xml"); }), Contains("c.xml:") && Contains(says));
  };
  // A HAAR cascade of one stage: one tree with these internal nodes and leaf values.
  auto one_tree = [&](const std::string& nodes, const std::string& leaves) {
    return cascade_xml("HAAR", 8, 0,
                       "<_><stageThreshold>0.</stageThreshold><weakClassifiers><_><internalNodes>" + nodes +
                           "</internalNodes><leafValues>" + leaves + "</leafValues></_></weakClassifiers></_>",
                       feat);
  };
  fails(cascade_xml("HAAR", 8, 0, stump, "<_><rects><_>5 0 4 8 -1.</_><_>0 0 1 1 1.</_></rects></_>\n"), "outside the 8x8 window");
  fails(cascade_xml("HAAR", 8, 0, stump, "<_><rects><_>0 0 4 8 -1.</_></rects><tilted>1</tilted></_>\n"), "tilted");
  fails(cascade_xml("HAAR", 8, 0, stump, "<_><rects></rects></_>\n"), "expected 1 to 3");
  fails(cascade_xml("HAAR", 8, 0, stump, "<_><rects><_>0 0 4</_></rects></_>\n"), "x y width height weight");
  fails(cascade_xml("HAAR", 8, 0, stump, ""), "uses feature 0 but the cascade has only 0");
  fails(one_tree("0 -1 0 0.5", "1."), "needs 2 leaf values");
  fails(one_tree("0 -1 0", "1. 2."), "multiple of 4");
  // A tree whose second node is its own child would never finish evaluating.
  fails(one_tree("0 1 0 0.5 1 -1 0 0.5", "1. 2. 3."), "points back");
  fails(one_tree("0 -7 0 0.5", "1. 2."), "expected an integer from -1 to 0");
  fails(cascade_xml("HAAR", 8, 3, stump, feat), "maxCatCount is 3");
  fails(cascade_xml("LBP", 8, 100, stump, feat), "256 categories");
  fails(cascade_xml("LBP", 8, 256, stump, "<_><rect>0 0 3 3</rect></_>"), "multiple of 11");
  fails(cascade_xml("HOG", 8, 0, stump, feat), "expected HAAR or LBP");
  fails(cascade_xml("HAAR", 8, 0, "", feat), "<stages> is empty");
  fails(cascade_xml("HAAR", 8, 0,
                    "<_><stageThreshold>abc</stageThreshold><weakClassifiers><_><internalNodes>0 -1 0 0.5</internalNodes>"
                    "<leafValues>1. 2.</leafValues></_></weakClassifiers></_>",
                    feat),
        "expected numbers");
  fails("<opencv_storage><haarcascade_x type_id=\"opencv-haar-classifier\"><size>24 24</size></haarcascade_x></opencv_storage>",
        "old (pre-2.0) format");
  fails("<root/>", "expected <opencv_storage>");
  fails("<opencv_storage><x/></opencv_storage>", "not a cascade");
  TempDir dir("cascade");
  CHECK_THAT(data_error_of([&] { Cascade::load(dir / "none.xml"); }), Contains("none.xml") && Contains("cannot open"));
}

TEST_CASE("group_rectangles: clusters, averages, neighbour counts and nested boxes as OpenCV defines them",
          "[data][cascade]") {
  // Three boxes within eps of each other, one far away alone, two forming a pair.
  const std::vector<Rect> in = {{100, 100, 50, 50}, {102, 101, 50, 50}, {98, 103, 52, 52},  // cluster A (3)
                                {300, 300, 40, 40},                                         // alone
                                {10, 10, 20, 20},   {11, 10, 20, 20}};                      // cluster B (2)
  std::vector<int> n;
  // Averages: A = (300/3, 304/3, 152/3, 152/3) = (100, 101.33, 50.67, 50.67) -> (100, 101, 51, 51);
  // B = (10.5, 10, 20, 20) -> 10 (ties round to even).
  CHECK(group_rectangles(in, 1, 0.2, &n) == std::vector<Rect>{{100, 101, 51, 51}, {10, 10, 20, 20}});
  CHECK(n == std::vector<int>{3, 2});
  CHECK(group_rectangles(in, 2, 0.2, &n) == std::vector<Rect>{{100, 101, 51, 51}});
  CHECK(group_rectangles(in, 3, 0.2).empty());
  CHECK(group_rectangles(in, 0, 0.2) == in);  // no grouping
  // Transitivity: a chain of boxes each within eps of the next joins into one cluster.
  std::vector<Rect> chain;
  for (int i = 0; i < 6; ++i) chain.push_back({i * 4, 0, 40, 40});
  CHECK(group_rectangles(chain, 1, 0.2) == std::vector<Rect>{{10, 0, 40, 40}});
  // A small cluster inside a bigger, better supported one is dropped (OpenCV's rule: the big one
  // has more than max(3, n) members); with equal support both stay.
  std::vector<Rect> nested;
  for (int i = 0; i < 5; ++i) nested.push_back({0, 0, 100, 100});
  for (int i = 0; i < 2; ++i) nested.push_back({40, 40, 20, 20});
  CHECK(group_rectangles(nested, 1, 0.2) == std::vector<Rect>{{0, 0, 100, 100}});
  nested.assign(4, Rect{0, 0, 100, 100});
  for (int i = 0; i < 4; ++i) nested.push_back({40, 40, 20, 20});
  CHECK(group_rectangles(nested, 1, 0.2).size() == 2);
}

TEST_CASE("rect: iou and clip", "[data][cascade]") {
  CHECK(iou({0, 0, 10, 10}, {0, 0, 10, 10}) == 1.0);
  CHECK(iou({0, 0, 10, 10}, {5, 0, 10, 10}) == Approx(50.0 / 150.0));
  CHECK(iou({0, 0, 10, 10}, {20, 20, 5, 5}) == 0.0);
  CHECK(iou({0, 0, 0, 0}, {0, 0, 0, 0}) == 0.0);
  CHECK(clip({-5, -5, 20, 10}, 12, 8) == Rect{0, 0, 12, 5});
  CHECK(clip({20, 20, 5, 5}, 12, 8).area() == 0);
}

TEST_CASE("resize_bilinear: copies, halves by 2x2 averages, and interpolates between the right pixels",
          "[data][cascade]") {
  const GrayImage img = random_image(23, 31, 4);
  CHECK(resize_bilinear(img, 23, 31).pixels == img.pixels);
  GrayImage even = random_image(10, 14, 5);
  const GrayImage half = resize_bilinear(even, 5, 7);
  for (std::int64_t y = 0; y < 5; ++y)
    for (std::int64_t x = 0; x < 7; ++x)
      REQUIRE(half.at(y, x) == (even.at(2 * y, 2 * x) + even.at(2 * y, 2 * x + 1) + even.at(2 * y + 1, 2 * x) +
                                even.at(2 * y + 1, 2 * x + 1) + 2) / 4);
  // Against textbook bilinear interpolation in double (half-pixel centres, clamped edges): within
  // the rounding of 8-bit weights on each axis and of the result (1.5 grey levels at most).
  for (auto [h, w] : {std::pair<std::int64_t, std::int64_t>{17, 13}, {5, 29}, {40, 50}, {1, 1}}) {
    const GrayImage out = resize_bilinear(img, h, w);
    for (std::int64_t y = 0; y < h; ++y)
      for (std::int64_t x = 0; x < w; ++x) {
        auto coord = [](std::int64_t d, std::int64_t dst, std::int64_t src, std::int64_t& i0, double& t) {
          const double f = std::clamp((d + 0.5) * src / dst - 0.5, 0.0, static_cast<double>(src - 1));
          i0 = std::min<std::int64_t>(static_cast<std::int64_t>(f), src - 1);
          t = f - static_cast<double>(i0);
        };
        std::int64_t x0, y0;
        double tx, ty;
        coord(x, w, img.w, x0, tx);
        coord(y, h, img.h, y0, ty);
        const std::int64_t x1 = std::min(x0 + 1, img.w - 1), y1 = std::min(y0 + 1, img.h - 1);
        const double want = (1 - ty) * ((1 - tx) * img.at(y0, x0) + tx * img.at(y0, x1)) +
                            ty * ((1 - tx) * img.at(y1, x0) + tx * img.at(y1, x1));
        INFO(h << "x" << w << " at " << y << "," << x);
        REQUIRE(std::abs(out.at(y, x) - want) <= 1.5);
      }
  }
}

TEST_CASE("face_crop: a square centred on the box, margin times its side, edges repeated", "[data][cascade]") {
  CHECK(face_crop_box({100, 50, 40, 40}, 1.5) == Rect{90, 40, 60, 60});
  CHECK(face_crop_box({100, 50, 40, 20}, 1.0) == Rect{100, 40, 40, 40});  // square on the larger side
  GrayImage img(20, 30);
  for (std::int64_t y = 0; y < 20; ++y)
    for (std::int64_t x = 0; x < 30; ++x) img.at(y, x) = static_cast<std::uint8_t>(x * 8 + y);
  // A box at the corner: the part of the square outside the image repeats the edge pixels.
  const GrayImage crop = crop_face(img, {0, 0, 10, 10}, 20, 2.0);
  REQUIRE(crop.h == 20);
  REQUIRE(crop.w == 20);
  for (std::int64_t y = 0; y < 20; ++y)
    for (std::int64_t x = 0; x < 20; ++x) {
      const std::int64_t sx = std::clamp<std::int64_t>(x - 5, 0, 29), sy = std::clamp<std::int64_t>(y - 5, 0, 19);
      REQUIRE(crop.at(y, x) == img.at(sy, sx));
    }
  // Resized to the model's input by area averaging.
  const GrayImage small = crop_face(img, {10, 5, 8, 8}, 4, 1.0);
  CHECK(small.pixels == resize(crop_face(img, {10, 5, 8, 8}, 8, 1.0), 4, 4).pixels);
  CHECK_THROWS_AS(crop_face(img, {0, 0, 0, 5}, 8), Error);
}
