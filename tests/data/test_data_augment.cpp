// The affine warp and the augmentation drawn for each image.
#include <catch2/catch.hpp>

#include <cmath>

#include "minidl/data/augment.h"
#include "minidl/kernels/augment.h"
#include "test_data_helpers.h"

using namespace minidl;
using namespace minidl::data;
using namespace minidl::data::testing;

namespace {
std::vector<float> warp(const GrayImage& img, const AugmentParams& p, float fill = -1.f) {
  std::vector<float> out(img.pixels.size());
  augment_image(img, p, fill, out.data());
  return out;
}
}  // namespace

TEST_CASE("identity parameters return the input exactly", "[data]") {
  const GrayImage img = random_image(13, 17, 11);
  const AffineMatrix m = affine_matrix(AugmentParams{}, 13, 17);
  CHECK(m.m[0] == 1.f);
  CHECK(m.m[1] == 0.f);
  CHECK(m.m[2] == 0.f);
  CHECK(m.m[3] == 0.f);
  CHECK(m.m[4] == 1.f);
  CHECK(m.m[5] == 0.f);
  const std::vector<float> out = warp(img, AugmentParams{});
  for (std::size_t i = 0; i < out.size(); ++i) REQUIRE(out[i] == static_cast<float>(img.pixels[i]));
  // The float kernel too, with values that are not integers.
  std::vector<float> src(img.pixels.size()), dst(src.size());
  for (std::size_t i = 0; i < src.size(); ++i) src[i] = img.pixels[i] * 0.37f - 3.1f;
  kernels::cpu::affine_warp<float>(kernels::cpu::Stream{}, 1, 13, 17, src.data(), &m, 0.f, dst.data());
  CHECK(dst == src);
  // And what sample_augment draws when every range is the identity.
  const AugmentParams p = sample_augment(AugmentOptions::none(), 5, 3, 7, 13, 17);
  CHECK(warp(img, p) == out);
}

TEST_CASE("flip-only is an exact mirror", "[data]") {
  for (std::int64_t w : {16, 17}) {  // even and odd widths
    const GrayImage img = random_image(9, w, 12);
    AugmentParams p;
    p.flip = true;
    const AffineMatrix m = affine_matrix(p, 9, w);
    CHECK(m.m[0] == -1.f);
    CHECK(m.m[2] == static_cast<float>(w - 1));
    const std::vector<float> out = warp(img, p);
    for (std::int64_t y = 0; y < 9; ++y)
      for (std::int64_t x = 0; x < w; ++x) REQUIRE(out[y * w + x] == img.at(y, w - 1 - x));
  }
  AugmentOptions o = AugmentOptions::none();
  o.flip_probability = 1.0;
  CHECK(sample_augment(o, 1, 0, 0, 8, 8).flip);
}

TEST_CASE("translation moves pixels and fills what comes from outside", "[data]") {
  const GrayImage img = random_image(6, 8, 13);
  AugmentParams p;
  p.tx = 2.0;   // right
  p.ty = -1.0;  // up
  const std::vector<float> out = warp(img, p, 999.f);
  for (std::int64_t y = 0; y < 6; ++y)
    for (std::int64_t x = 0; x < 8; ++x) {
      const std::int64_t sx = x - 2, sy = y + 1;
      const float expect = (sx >= 0 && sy < 6) ? static_cast<float>(img.at(sy, sx)) : 999.f;
      REQUIRE(out[y * 8 + x] == Approx(expect).margin(1e-4));
    }
}

TEST_CASE("rotation is counter-clockwise as seen, about the centre", "[data]") {
  // A single bright pixel right of the centre of a 9x9 image moves above it under +90 degrees.
  GrayImage img(9, 9, 0);
  img.at(4, 7) = 200;
  AugmentParams p;
  p.rotation_deg = 90.0;
  const std::vector<float> out = warp(img, p, 0.f);
  CHECK(out[1 * 9 + 4] == Approx(200.f).margin(0.01));
  CHECK(out[4 * 9 + 7] == Approx(0.f).margin(0.01));
  CHECK(out[4 * 9 + 4] == Approx(0.f).margin(0.01));
  // Small rotations keep the centre pixel where it is.
  img.at(4, 4) = 123;
  p.rotation_deg = 10.0;
  CHECK(warp(img, p, 0.f)[4 * 9 + 4] == Approx(123.f).margin(1e-3));
}

TEST_CASE("scale enlarges about the centre and interpolates bilinearly", "[data]") {
  GrayImage img(1, 5);
  img.pixels = {0, 40, 80, 120, 160};
  AugmentParams p;
  p.scale = 2.0;
  // Output x reads source 2 + (x - 2) / 2: 1, 1.5, 2, 2.5, 3.
  const std::vector<float> out = warp(img, p, 0.f);
  const std::vector<float> expect = {40, 60, 80, 100, 120};
  for (int x = 0; x < 5; ++x) CHECK(out[x] == Approx(expect[x]).margin(1e-3));
}

TEST_CASE("augmentation draws are deterministic per (seed, epoch, index) and stay in range", "[data]") {
  AugmentOptions o;  // defaults: flip 0.5, +-15 deg, +-10%, 0.9..1.1
  const auto same = [](const AugmentParams& a, const AugmentParams& b) {
    return a.flip == b.flip && a.rotation_deg == b.rotation_deg && a.tx == b.tx && a.ty == b.ty && a.scale == b.scale;
  };
  CHECK(same(sample_augment(o, 1, 2, 3, 64, 64), sample_augment(o, 1, 2, 3, 64, 64)));
  CHECK_FALSE(same(sample_augment(o, 1, 2, 3, 64, 64), sample_augment(o, 1, 2, 4, 64, 64)));
  CHECK_FALSE(same(sample_augment(o, 1, 2, 3, 64, 64), sample_augment(o, 1, 3, 3, 64, 64)));
  CHECK_FALSE(same(sample_augment(o, 1, 2, 3, 64, 64), sample_augment(o, 2, 2, 3, 64, 64)));
  int flips = 0;
  double max_rot = 0, max_tx = 0, min_s = 9, max_s = 0;
  for (int i = 0; i < 4000; ++i) {
    const AugmentParams p = sample_augment(o, 9, 0, i, 48, 64);
    flips += p.flip;
    max_rot = std::max(max_rot, std::abs(p.rotation_deg));
    max_tx = std::max(max_tx, std::abs(p.tx));
    REQUIRE(std::abs(p.ty) <= 4.8 + 1e-9);
    min_s = std::min(min_s, p.scale);
    max_s = std::max(max_s, p.scale);
  }
  CHECK(flips > 1800);
  CHECK(flips < 2200);
  CHECK(max_rot <= 15.0);
  CHECK(max_rot > 14.5);
  CHECK(max_tx <= 6.4 + 1e-9);
  CHECK(max_tx > 6.0);
  CHECK(min_s >= 0.9);
  CHECK(max_s <= 1.1);
  // Configurable ranges.
  o.max_rotation_deg = 3;
  o.flip_probability = 0;
  for (int i = 0; i < 200; ++i) {
    const AugmentParams p = sample_augment(o, 9, 0, i, 48, 64);
    REQUIRE(std::abs(p.rotation_deg) <= 3.0);
    REQUIRE_FALSE(p.flip);
  }
}

TEST_CASE("augmentation options are validated", "[data]") {
  AugmentOptions o;
  CHECK_NOTHROW(o.validate());
  o.min_scale = 1.2;
  CHECK_THROWS_AS(o.validate(), Error);
  o = AugmentOptions{};
  o.flip_probability = 1.5;
  CHECK_THROWS_AS(o.validate(), Error);
  o = AugmentOptions{};
  o.max_rotation_deg = -1;
  CHECK_THROWS_AS(o.validate(), Error);
  o = AugmentOptions{};
  o.max_translate = 2;
  CHECK_THROWS_AS(o.validate(), Error);
}

TEST_CASE("the warp reads fill far outside the image and never out of bounds", "[data]") {
  const GrayImage img = random_image(8, 8, 14);
  AffineMatrix far{{1, 0, 1e9f, 0, 1, -1e9f}};
  std::vector<float> out(64);
  kernels::cpu::affine_warp<std::uint8_t>(kernels::cpu::Stream{}, 1, 8, 8, img.pixels.data(), &far, 42.f, out.data());
  for (float v : out) REQUIRE(v == 42.f);
  AffineMatrix nan{{std::nanf(""), 0, 0, 0, 1, 0}};
  kernels::cpu::affine_warp<std::uint8_t>(kernels::cpu::Stream{}, 1, 8, 8, img.pixels.data(), &nan, 7.f, out.data());
  for (float v : out) REQUIRE(v == 7.f);
  // Half a pixel outside blends the edge pixel with the fill.
  AffineMatrix half{{1, 0, -0.5f, 0, 1, 0}};
  kernels::cpu::affine_warp<std::uint8_t>(kernels::cpu::Stream{}, 1, 8, 8, img.pixels.data(), &half, 0.f, out.data());
  CHECK(out[0] == Approx(0.5f * img.at(0, 0)));
}
