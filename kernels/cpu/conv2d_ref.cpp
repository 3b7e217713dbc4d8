// Convolution as its definition, in plain loops: the yardstick that the fast CPU path and the
// CUDA kernels are tested against. Sums are carried in double so that the yardstick is more
// accurate than what it measures, also in float32. Every output element is written exactly
// once (a gather, never a scatter), which is what lets accumulate=false skip reading it.
// With groups, output channel k sees input channels [grp cg, (grp+1) cg) of its group
// grp = k / kg (cg = c / groups, kg = k / groups), as weight[k, 0 .. cg).
#include "minidl/kernels/cpu/conv2d_backends.h"

namespace minidl::kernels::cpu::ref {

template <typename T>
void forward(Stream, const Conv2dGeometry& g, const T* x, const T* weight, const T* bias, T* y) {
  const std::int64_t cg = g.c_per_group(), kg = g.k_per_group();
  for (std::int64_t b = 0; b < g.n; ++b)
    for (std::int64_t k = 0; k < g.k; ++k)
      for (std::int64_t oy = 0; oy < g.oh; ++oy)
        for (std::int64_t ox = 0; ox < g.ow; ++ox) {
          double acc = bias ? static_cast<double>(bias[k]) : 0.0;
          for (std::int64_t j = 0; j < cg; ++j) {
            const std::int64_t c = k / kg * cg + j;
            for (std::int64_t r = 0; r < g.r; ++r) {
              const std::int64_t iy = oy * g.stride_h - g.pad_h + r * g.dilation_h;
              if (iy < 0 || iy >= g.h) continue;
              for (std::int64_t s = 0; s < g.s; ++s) {
                const std::int64_t ix = ox * g.stride_w - g.pad_w + s * g.dilation_w;
                if (ix < 0 || ix >= g.w) continue;
                acc += static_cast<double>(x[((b * g.c + c) * g.h + iy) * g.w + ix]) *
                       static_cast<double>(weight[((k * cg + j) * g.r + r) * g.s + s]);
              }
            }
          }
          y[((b * g.k + k) * g.oh + oy) * g.ow + ox] = static_cast<T>(acc);
        }
}

// dx[b,c,iy,ix] = sum over the k of c's group, the taps (r, s) and the outputs (oy, ox) with
// oy*stride - pad + r*dilation == iy (and the same for x) of dy[b,k,oy,ox] * w[k,c mod cg,r,s].
template <typename T>
void backward_data(Stream, const Conv2dGeometry& g, const T* dy, const T* weight, T* dx, bool accumulate) {
  const std::int64_t cg = g.c_per_group(), kg = g.k_per_group();
  for (std::int64_t b = 0; b < g.n; ++b)
    for (std::int64_t c = 0; c < g.c; ++c)
      for (std::int64_t iy = 0; iy < g.h; ++iy)
        for (std::int64_t ix = 0; ix < g.w; ++ix) {
          double acc = 0.0;
          const std::int64_t j = c % cg, k0 = c / cg * kg;
          for (std::int64_t k = k0; k < k0 + kg; ++k)
            for (std::int64_t r = 0; r < g.r; ++r) {
              const std::int64_t ty = iy + g.pad_h - r * g.dilation_h;  // oy * stride_h, if such an oy exists
              if (ty < 0 || ty % g.stride_h != 0 || ty / g.stride_h >= g.oh) continue;
              const std::int64_t oy = ty / g.stride_h;
              for (std::int64_t s = 0; s < g.s; ++s) {
                const std::int64_t tx = ix + g.pad_w - s * g.dilation_w;
                if (tx < 0 || tx % g.stride_w != 0 || tx / g.stride_w >= g.ow) continue;
                const std::int64_t ox = tx / g.stride_w;
                acc += static_cast<double>(dy[((b * g.k + k) * g.oh + oy) * g.ow + ox]) *
                       static_cast<double>(weight[((k * cg + j) * g.r + r) * g.s + s]);
              }
            }
          T& out = dx[((b * g.c + c) * g.h + iy) * g.w + ix];
          out = accumulate ? static_cast<T>(static_cast<double>(out) + acc) : static_cast<T>(acc);
        }
}

template <typename T>
void backward_filter(Stream, const Conv2dGeometry& g, const T* x, const T* dy, T* dweight, bool accumulate) {
  const std::int64_t cg = g.c_per_group(), kg = g.k_per_group();
  for (std::int64_t k = 0; k < g.k; ++k)
    for (std::int64_t j = 0; j < cg; ++j)
      for (std::int64_t r = 0; r < g.r; ++r)
        for (std::int64_t s = 0; s < g.s; ++s) {
          const std::int64_t c = k / kg * cg + j;
          double acc = 0.0;
          for (std::int64_t b = 0; b < g.n; ++b)
            for (std::int64_t oy = 0; oy < g.oh; ++oy) {
              const std::int64_t iy = oy * g.stride_h - g.pad_h + r * g.dilation_h;
              if (iy < 0 || iy >= g.h) continue;
              for (std::int64_t ox = 0; ox < g.ow; ++ox) {
                const std::int64_t ix = ox * g.stride_w - g.pad_w + s * g.dilation_w;
                if (ix < 0 || ix >= g.w) continue;
                acc += static_cast<double>(dy[((b * g.k + k) * g.oh + oy) * g.ow + ox]) *
                       static_cast<double>(x[((b * g.c + c) * g.h + iy) * g.w + ix]);
              }
            }
          T& out = dweight[((k * cg + j) * g.r + r) * g.s + s];
          out = accumulate ? static_cast<T>(static_cast<double>(out) + acc) : static_cast<T>(acc);
        }
}

template <typename T>
ConvBackend<T> backend() {
  return {"reference", conv_supports_every_call, forward<T>, backward_data<T>, backward_filter<T>};
}
template ConvBackend<float> backend<float>();
template ConvBackend<double> backend<double>();

}  // namespace minidl::kernels::cpu::ref
