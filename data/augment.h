// Augmentation: a random horizontal flip, rotation, translation and scale, composed into ONE
// affine map about the image centre and applied with one bilinear warp (so an image is
// resampled once, not once per transform). The draw for an image is a pure function of
// (seed, epoch, sample index): the same run gives the same augmented images whatever the
// number of loader threads or the order they run in.
#pragma once

#include <cstdint>
#include <string>

#include "minidl/base/affine.h"
#include "minidl/data/image.h"

namespace minidl::data {

struct AugmentOptions {
  double flip_probability = 0.5;  // horizontal flips only: faces are left-right symmetric, not up-down
  double max_rotation_deg = 15.0; // uniform in [-max, +max]
  double max_translate = 0.10;    // fraction of the width (x) and height (y), uniform in [-max, +max]
  double min_scale = 0.9;         // uniform in [min, max]; > 1 zooms in
  double max_scale = 1.1;
  float fill = 0.f;               // value (0..255 scale) of pixels that come from outside the image

  // Throws minidl::Error for ranges that make no sense (negative, min > max, scale <= 0,
  // probability outside [0, 1]).
  void validate() const;
  // "flip 0.5, rotation +-15 deg, translate +-10%, scale 0.9..1.1"
  std::string str() const;
  // No change at all (flip probability 0, every range at identity).
  static AugmentOptions none();
};

// One image's transform. Rotation is in degrees, positive = counter-clockwise as the image is
// seen (y pointing down); translation in pixels (+x right, +y down); scale > 1 enlarges.
struct AugmentParams {
  bool flip = false;
  double rotation_deg = 0.0;
  double tx = 0.0, ty = 0.0;
  double scale = 1.0;
};

// The draw for sample `index` in `epoch` of a run seeded with `seed`, for an h x w image.
AugmentParams sample_augment(const AugmentOptions& options, std::uint64_t seed, std::int64_t epoch,
                             std::int64_t index, std::int64_t h, std::int64_t w);

// The output -> source matrix of the warp for those parameters, about the image centre
// c = ((w-1)/2, (h-1)/2). The forward map (source -> output) is
//   p_out = c + t + s * R(theta) * F * (p_src - c)
// with F the mirror x -> -x when flipping; the warp needs its inverse,
//   p_src = c + F * R(-theta) * (p_out - c - t) / s.
// Identity parameters give exactly [1 0 0; 0 1 0]; flip-only exactly [-1 0 w-1; 0 1 0].
AffineMatrix affine_matrix(const AugmentParams& params, std::int64_t h, std::int64_t w);

// Warps a uint8 image into `out` (h*w floats on the 0..255 scale), with options.fill outside.
void augment_image(const GrayImage& image, const AugmentParams& params, float fill, float* out);
// The same, rounded back to uint8 (for writing augmented examples to look at).
GrayImage augment_image(const GrayImage& image, const AugmentParams& params, float fill);

}  // namespace minidl::data
