#include "minidl/data/augment.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>
#include <vector>

#include "minidl/base/error.h"
#include "minidl/data/random.h"
#include "minidl/kernels/augment.h"

namespace minidl::data {

namespace {
constexpr std::uint64_t kAugmentStream = 0xa06e'0001;
constexpr double kPi = 3.14159265358979323846;
}  // namespace

void AugmentOptions::validate() const {
  MINIDL_CHECK(flip_probability >= 0.0 && flip_probability <= 1.0, "augmentation: flip probability ",
               flip_probability, " is not in [0, 1]");
  MINIDL_CHECK(max_rotation_deg >= 0.0 && max_rotation_deg <= 180.0, "augmentation: rotation range +-",
               max_rotation_deg, " degrees is not in [0, 180]");
  MINIDL_CHECK(max_translate >= 0.0 && max_translate <= 1.0, "augmentation: translation range +-",
               max_translate, " is not a fraction in [0, 1]");
  MINIDL_CHECK(min_scale > 0.0 && min_scale <= max_scale, "augmentation: scale range ", min_scale, "..",
               max_scale, " must satisfy 0 < min <= max");
  MINIDL_CHECK(std::isfinite(fill), "augmentation: fill value must be finite");
}

std::string AugmentOptions::str() const {
  std::ostringstream os;
  os << "flip " << flip_probability << ", rotation +-" << max_rotation_deg << " deg, translate +-"
     << max_translate * 100.0 << "%, scale " << min_scale << ".." << max_scale << ", fill " << fill;
  return os.str();
}

AugmentOptions AugmentOptions::none() {
  AugmentOptions o;
  o.flip_probability = 0.0;
  o.max_rotation_deg = 0.0;
  o.max_translate = 0.0;
  o.min_scale = o.max_scale = 1.0;
  return o;
}

AugmentParams sample_augment(const AugmentOptions& o, std::uint64_t seed, std::int64_t epoch, std::int64_t index,
                             std::int64_t h, std::int64_t w) {
  SampleRng rng(seed, kAugmentStream, static_cast<std::uint64_t>(epoch), static_cast<std::uint64_t>(index));
  // Always draw all five numbers, so changing one range does not reshuffle the others.
  const double u_flip = rng.uniform(), u_rot = rng.uniform(), u_tx = rng.uniform(), u_ty = rng.uniform(),
               u_scale = rng.uniform();
  AugmentParams p;
  p.flip = u_flip < o.flip_probability;
  p.rotation_deg = (2.0 * u_rot - 1.0) * o.max_rotation_deg;
  p.tx = (2.0 * u_tx - 1.0) * o.max_translate * static_cast<double>(w);
  p.ty = (2.0 * u_ty - 1.0) * o.max_translate * static_cast<double>(h);
  p.scale = o.min_scale + (o.max_scale - o.min_scale) * u_scale;
  return p;
}

AffineMatrix affine_matrix(const AugmentParams& p, std::int64_t h, std::int64_t w) {
  MINIDL_CHECK(p.scale > 0.0 && std::isfinite(p.scale), "augmentation: scale ", p.scale, " must be positive");
  const double cx = 0.5 * static_cast<double>(w - 1), cy = 0.5 * static_cast<double>(h - 1);
  const double theta = p.rotation_deg * kPi / 180.0;
  // With y pointing down, a counter-clockwise rotation (as seen) by theta maps
  // (x, y) -> (x cos + y sin, -x sin + y cos). Its inverse is the transpose.
  const double c = p.rotation_deg == 0.0 ? 1.0 : std::cos(theta);
  const double s = p.rotation_deg == 0.0 ? 0.0 : std::sin(theta);
  const double inv_scale = 1.0 / p.scale;
  const double f = p.flip ? -1.0 : 1.0;
  // A = F * R(-theta) / s, where R(-theta) = [c -s; s c] in this convention.
  const double a00 = f * c * inv_scale, a01 = -f * s * inv_scale;
  const double a10 = s * inv_scale, a11 = c * inv_scale;
  // p_src = c + A (p_out - c - t) = A p_out + (c - A (c + t)).
  const double ox = cx + p.tx, oy = cy + p.ty;
  AffineMatrix m;
  m.m[0] = static_cast<float>(a00);
  m.m[1] = static_cast<float>(a01);
  m.m[2] = static_cast<float>(cx - (a00 * ox + a01 * oy));
  m.m[3] = static_cast<float>(a10);
  m.m[4] = static_cast<float>(a11);
  m.m[5] = static_cast<float>(cy - (a10 * ox + a11 * oy));
  return m;
}

void augment_image(const GrayImage& image, const AugmentParams& params, float fill, float* out) {
  MINIDL_CHECK(static_cast<std::int64_t>(image.pixels.size()) == image.h * image.w && image.h > 0,
               "augment_image: image ", image.h, "x", image.w, " holds ", image.pixels.size(), " pixels");
  const AffineMatrix m = affine_matrix(params, image.h, image.w);
  kernels::cpu::affine_warp(kernels::cpu::Stream{}, 1, image.h, image.w, image.pixels.data(), &m, fill, out);
}

GrayImage augment_image(const GrayImage& image, const AugmentParams& params, float fill) {
  std::vector<float> tmp(image.pixels.size());
  augment_image(image, params, fill, tmp.data());
  GrayImage out(image.h, image.w);
  for (std::size_t i = 0; i < tmp.size(); ++i)
    out.pixels[i] = static_cast<std::uint8_t>(std::clamp(std::lround(tmp[i]), 0L, 255L));
  return out;
}

}  // namespace minidl::data
