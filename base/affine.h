// A 2-D affine map, the augmentation warp's matrix: for each output pixel (x, y) the source point
// is (m[0]*x + m[1]*y + m[2], m[3]*x + m[4]*y + m[5]). Below kernels because the warp kernels take
// it, and data/ builds it from the sampled augmentation.
#pragma once

namespace minidl {

struct AffineMatrix {
  float m[6];
};

}  // namespace minidl
