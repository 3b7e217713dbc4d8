// The built-in synthetic faces: a pure function of (seed, index), FER class shares, any size.
#include <catch2/catch.hpp>

#include <cmath>
#include <set>

#include "minidl/data/synthetic_faces.h"
#include "test_data_helpers.h"

using namespace minidl;
using namespace minidl::data;

TEST_CASE("synthetic faces are a pure function of (seed, index)", "[data]") {
  SyntheticFacesOptions o;
  o.size = 50;
  SyntheticFaces a(o), b(o);
  for (std::int64_t i : {0, 7, 49}) {
    const Sample x = a.get(i), y = b.get(i), z = a.get(i);
    CHECK(x.image.pixels == y.image.pixels);
    CHECK(x.image.pixels == z.image.pixels);
    CHECK(x.label == y.label);
    CHECK(x.label == a.label(i));
  }
  // first_index continues the same stream: face 10 of a set starting at 10 is face 10.
  SyntheticFacesOptions later = o;
  later.first_index = 10;
  CHECK(SyntheticFaces(later).get(0).image.pixels == a.get(10).image.pixels);
  // Another seed draws other faces.
  SyntheticFacesOptions other = o;
  other.seed = 2;
  int same = 0;
  for (std::int64_t i = 0; i < 10; ++i) same += SyntheticFaces(other).get(i).image.pixels == a.get(i).image.pixels;
  CHECK(same == 0);
  // Consecutive faces differ.
  CHECK(a.get(0).image.pixels != a.get(1).image.pixels);
  CHECK_THROWS_AS(a.get(50), Error);
  CHECK_THROWS_AS(a.get(-1), Error);
}

TEST_CASE("synthetic labels follow FER2013's class shares", "[data]") {
  SyntheticFacesOptions o;
  o.size = 40000;
  SyntheticFaces d(o);
  const auto counts = d.class_counts();
  const auto& p = SyntheticFaces::class_proportions();
  REQUIRE(counts.size() == 7);
  double total = 0;
  for (double q : p) total += q;
  CHECK(total == Approx(1.0));
  for (std::size_t c = 0; c < 7; ++c) {
    const double share = counts[c] / 40000.0;
    // Binomial standard deviation is at most 0.0022 here; allow 4 of them.
    CHECK(std::abs(share - p[c]) < 0.009);
  }
  CHECK(p[1] == Approx(547.0 / 35887.0));  // Disgust, about 1.5%
  CHECK(counts[1] > 400);
  CHECK(counts[1] < 820);
}

TEST_CASE("synthetic faces draw at any size and are real images", "[data]") {
  for (std::int64_t s : {28, 48, 64, 96}) {
    const Sample f = draw_synthetic_face(3, 5, s, s);
    REQUIRE(f.image.h == s);
    REQUIRE(f.image.w == s);
    double mean = 0, var = 0;
    for (auto v : f.image.pixels) mean += v;
    mean /= f.image.pixels.size();
    for (auto v : f.image.pixels) var += (v - mean) * (v - mean);
    CHECK(std::sqrt(var / f.image.pixels.size()) > 10.0);  // not blank
  }
  const Sample wide = draw_synthetic_face(3, 5, 40, 64);
  CHECK(wide.image.h == 40);
  CHECK(wide.image.w == 64);
  // Identity varies across faces: mean brightness takes many values.
  std::set<int> means;
  for (int i = 0; i < 40; ++i) {
    const Sample f = draw_synthetic_face(1, i, 32, 32);
    double m = 0;
    for (auto v : f.image.pixels) m += v;
    means.insert(static_cast<int>(m / f.image.pixels.size() / 8));
  }
  CHECK(means.size() >= 8);
  CHECK_THROWS_AS(SyntheticFaces(SyntheticFacesOptions{1, 0}), Error);
  CHECK_THROWS_AS(draw_synthetic_face(1, 0, 4, 4), Error);
}

TEST_CASE("synthetic expressions differ where they should on average", "[data]") {
  // Class-average images (32x32): the classes must differ by more than the sampling noise of
  // an average (measured as the difference between two halves of one class), in the face's
  // mouth rows for Happy vs Surprise (smile vs open O) and in its brow rows for Surprise vs
  // Angry (raised vs lowered brows); Sad and Neutral, which overlap on purpose, differ less.
  // 12000 faces: with pose as varied as a photo's (roll sd 10 degrees, 10% shifts) a class
  // average needs that many to stand clearly above its sampling noise (3000 did not).
  const std::int64_t S = 32, N = 12000;
  std::vector<std::vector<double>> avg(8, std::vector<double>(S * S, 0.0));  // 7 = Happy's 2nd half
  std::vector<int> n(8, 0);
  for (std::int64_t i = 0; i < N; ++i) {
    const Sample f = draw_synthetic_face(4, i, S, S);
    const std::int64_t slot = (f.label == 3 && n[3] > n[7]) ? 7 : f.label;
    for (std::int64_t k = 0; k < S * S; ++k) avg[slot][k] += f.image.pixels[k];
    ++n[slot];
  }
  for (int c = 0; c < 8; ++c) {
    REQUIRE(n[c] > 0);
    for (auto& v : avg[c]) v /= n[c];
  }
  auto diff = [&](int a, int b, std::int64_t y0, std::int64_t y1) {
    double d = 0;
    for (std::int64_t y = y0; y < y1; ++y)
      for (std::int64_t x = 8; x < 24; ++x) d += std::abs(avg[a][y * S + x] - avg[b][y * S + x]);
    return d / static_cast<double>((y1 - y0) * 16);
  };
  const std::int64_t mouth0 = 22, mouth1 = 28, brow0 = 9, brow1 = 14;
  const double noise_mouth = diff(3, 7, mouth0, mouth1), noise_brow = diff(3, 7, brow0, brow1);
  const double happy_surprise = diff(3, 5, mouth0, mouth1), surprise_angry = diff(5, 0, brow0, brow1);
  const double sad_neutral = diff(4, 6, mouth0, mouth1);
  INFO("noise " << noise_mouth << " / " << noise_brow << "; happy-surprise mouth " << happy_surprise
                << "; surprise-angry brows " << surprise_angry << "; sad-neutral mouth " << sad_neutral);
  CHECK(happy_surprise > 3.0 * noise_mouth);
  CHECK(surprise_angry > 3.0 * noise_brow);
  CHECK(sad_neutral < happy_surprise);
}
