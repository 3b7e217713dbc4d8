// The loops of the emulated cuDNN convolutions (cudnn_conv_math.h).
#include "cudnn_conv_math.h"

namespace emu::dnn {

namespace {

std::size_t acc_bytes(const Conv& c) { return c.dbl ? sizeof(double) : sizeof(float); }

// The filter tap that multiplies input offset (r, s) of the window.
inline std::int64_t tap(std::int64_t r, std::int64_t extent, bool flip) { return flip ? extent - 1 - r : r; }

template <typename Acc>
struct Kernels {
  const Conv& c;
  Acc alpha, beta;
  std::int64_t N, C, H, W, K, R, S, OH, OW;

  Kernels(const Conv& conv, Acc a, Acc b)
      : c(conv), alpha(a), beta(b), N(conv.x.d[0]), C(conv.x.d[1]), H(conv.x.d[2]), W(conv.x.d[3]),
        K(conv.w.d[0]), R(conv.w.d[2]), S(conv.w.d[3]), OH(conv.y.d[2]), OW(conv.y.d[3]) {}

  Acc X(std::int64_t n, std::int64_t ci, std::int64_t h, std::int64_t w) const {
    return load<Acc>(c.x.ptr, c.x.type, c.x.at(n, ci, h, w));
  }
  Acc Wt(std::int64_t k, std::int64_t cl, std::int64_t r, std::int64_t s) const {
    return load<Acc>(c.w.ptr, c.w.type, c.w.at(k, cl, tap(r, R, c.flip), tap(s, S, c.flip)));
  }
  Acc DY(std::int64_t n, std::int64_t k, std::int64_t oh, std::int64_t ow) const {
    return load<Acc>(c.y.ptr, c.y.type, c.y.at(n, k, oh, ow));
  }

  // ---- forward: y[n, k, oh, ow] = sum over (cl, r, s) of x * w, in that order ----
  Acc forward_at(std::int64_t n, std::int64_t k, std::int64_t oh, std::int64_t ow, const std::int32_t* table) const {
    const std::int64_t cpg = c.cpg(), c0 = (k / c.kpg()) * cpg;
    Acc acc = 0;
    const std::int64_t taps = cpg * R * S;
    for (std::int64_t t = 0; t < taps; ++t) {
      std::int64_t cl, r, s;
      if (table) {  // IMPLICIT_PRECOMP_GEMM: the (cl, r, s) of each tap, read from the workspace
        cl = table[3 * t], r = table[3 * t + 1], s = table[3 * t + 2];
      } else {
        cl = t / (R * S), r = t / S % R, s = t % S;
      }
      const std::int64_t ih = oh * c.stride_h - c.pad_h + r * c.dil_h, iw = ow * c.stride_w - c.pad_w + s * c.dil_w;
      if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
      acc = std::fma(X(n, c0 + cl, ih, iw), Wt(k, cl, r, s), acc);
    }
    return acc;
  }

  void forward(int algo, void* ws) const {
    void* y = const_cast<void*>(c.y.ptr);
    const std::int64_t cpg = c.cpg(), taps = cpg * R * S;
    if (algo == CUDNN_CONVOLUTION_FWD_ALGO_GEMM) {
      // im2col of one (image, group) in the workspace: row (cl, r, s), column (oh, ow); padding is 0.
      Acc* col = static_cast<Acc*>(ws);
      for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t gi = 0; gi < c.groups; ++gi) {
          for (std::int64_t t = 0; t < taps; ++t) {
            const std::int64_t cl = t / (R * S), r = t / S % R, s = t % S;
            for (std::int64_t oh = 0; oh < OH; ++oh)
              for (std::int64_t ow = 0; ow < OW; ++ow) {
                const std::int64_t ih = oh * c.stride_h - c.pad_h + r * c.dil_h;
                const std::int64_t iw = ow * c.stride_w - c.pad_w + s * c.dil_w;
                const bool in = ih >= 0 && ih < H && iw >= 0 && iw < W;
                col[t * OH * OW + oh * OW + ow] = in ? X(n, gi * cpg + cl, ih, iw) : Acc(0);
              }
          }
          for (std::int64_t k = gi * c.kpg(); k < (gi + 1) * c.kpg(); ++k)
            for (std::int64_t p = 0; p < OH * OW; ++p) {
              Acc acc = 0;
              for (std::int64_t t = 0; t < taps; ++t)
                acc = std::fma(col[t * OH * OW + p], Wt(k, t / (R * S), t / S % R, t % S), acc);
              blend<Acc>(y, c.y.type, c.y.at(n, k, p / OW, p % OW), acc, alpha, beta);
            }
        }
      return;
    }
    const std::int32_t* table = nullptr;
    if (algo == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM) {
      std::int32_t* t = static_cast<std::int32_t*>(ws);
      for (std::int64_t i = 0; i < taps; ++i) {
        t[3 * i] = std::int32_t(i / (R * S));
        t[3 * i + 1] = std::int32_t(i / S % R);
        t[3 * i + 2] = std::int32_t(i % S);
      }
      table = t;
    }
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t k = 0; k < K; ++k)
        for (std::int64_t oh = 0; oh < OH; ++oh)
          for (std::int64_t ow = 0; ow < OW; ++ow)
            blend<Acc>(y, c.y.type, c.y.at(n, k, oh, ow), forward_at(n, k, oh, ow, table), alpha, beta);
  }

  // ---- backward data: dx[n, ci, h, w] = sum over (k in the group, r, s) of dy * w ----
  Acc backward_data_at(std::int64_t n, std::int64_t ci, std::int64_t h, std::int64_t w) const {
    const std::int64_t gi = ci / c.cpg(), cl = ci % c.cpg(), kpg = c.kpg();
    Acc acc = 0;
    for (std::int64_t k = gi * kpg; k < (gi + 1) * kpg; ++k)
      for (std::int64_t r = 0; r < R; ++r) {
        const std::int64_t oh_num = h + c.pad_h - r * c.dil_h;
        if (oh_num < 0 || oh_num % c.stride_h) continue;
        const std::int64_t oh = oh_num / c.stride_h;
        if (oh >= OH) continue;
        for (std::int64_t s = 0; s < S; ++s) {
          const std::int64_t ow_num = w + c.pad_w - s * c.dil_w;
          if (ow_num < 0 || ow_num % c.stride_w) continue;
          const std::int64_t ow = ow_num / c.stride_w;
          if (ow >= OW) continue;
          acc = std::fma(DY(n, k, oh, ow), Wt(k, cl, r, s), acc);
        }
      }
    return acc;
  }

  void backward_data(int algo, void* ws) const {
    void* dx = const_cast<void*>(c.x.ptr);
    for (std::int64_t n = 0; n < N; ++n) {
      if (algo == CUDNN_CONVOLUTION_BWD_DATA_ALGO_1) {
        // One image's sums in the workspace, then blended into dx.
        Acc* sum = static_cast<Acc*>(ws);
        for (std::int64_t ci = 0; ci < C; ++ci)
          for (std::int64_t h = 0; h < H; ++h)
            for (std::int64_t w = 0; w < W; ++w) sum[(ci * H + h) * W + w] = backward_data_at(n, ci, h, w);
        for (std::int64_t ci = 0; ci < C; ++ci)
          for (std::int64_t h = 0; h < H; ++h)
            for (std::int64_t w = 0; w < W; ++w)
              blend<Acc>(dx, c.x.type, c.x.at(n, ci, h, w), sum[(ci * H + h) * W + w], alpha, beta);
        continue;
      }
      for (std::int64_t ci = 0; ci < C; ++ci)
        for (std::int64_t h = 0; h < H; ++h)
          for (std::int64_t w = 0; w < W; ++w)
            blend<Acc>(dx, c.x.type, c.x.at(n, ci, h, w), backward_data_at(n, ci, h, w), alpha, beta);
    }
  }

  // ---- backward filter: dw[k, cl, r, s] = sum over (n, oh, ow) of x * dy ----
  // ALGO_1 keeps the sums in the workspace and adds one image at a time; ALGO_0 runs the same
  // additions per element.
  Acc filter_term(Acc acc, std::int64_t n, std::int64_t k, std::int64_t cl, std::int64_t r, std::int64_t s) const {
    const std::int64_t ci = (k / c.kpg()) * c.cpg() + cl;
    // The tap (r, s) of dw multiplies input offset (tap(r), tap(s)) of the window.
    const std::int64_t wr = tap(r, R, c.flip), ws_ = tap(s, S, c.flip);
    for (std::int64_t oh = 0; oh < OH; ++oh) {
      const std::int64_t ih = oh * c.stride_h - c.pad_h + wr * c.dil_h;
      if (ih < 0 || ih >= H) continue;
      for (std::int64_t ow = 0; ow < OW; ++ow) {
        const std::int64_t iw = ow * c.stride_w - c.pad_w + ws_ * c.dil_w;
        if (iw < 0 || iw >= W) continue;
        acc = std::fma(X(n, ci, ih, iw), DY(n, k, oh, ow), acc);
      }
    }
    return acc;
  }

  void backward_filter(int algo, void* ws) const {
    void* dw = const_cast<void*>(c.w.ptr);
    const std::int64_t cpg = c.cpg();
    auto each = [&](auto&& f) {
      for (std::int64_t k = 0; k < K; ++k)
        for (std::int64_t cl = 0; cl < cpg; ++cl)
          for (std::int64_t r = 0; r < R; ++r)
            for (std::int64_t s = 0; s < S; ++s) f(k, cl, r, s, ((k * cpg + cl) * R + r) * S + s);
    };
    if (algo == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1) {
      Acc* sum = static_cast<Acc*>(ws);
      each([&](std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t i) { sum[i] = 0; });
      for (std::int64_t n = 0; n < N; ++n)
        each([&](std::int64_t k, std::int64_t cl, std::int64_t r, std::int64_t s, std::int64_t i) {
          sum[i] = filter_term(sum[i], n, k, cl, r, s);
        });
      each([&](std::int64_t k, std::int64_t cl, std::int64_t r, std::int64_t s, std::int64_t i) {
        blend<Acc>(dw, c.w.type, c.w.at(k, cl, r, s), sum[i], alpha, beta);
      });
      return;
    }
    each([&](std::int64_t k, std::int64_t cl, std::int64_t r, std::int64_t s, std::int64_t) {
      Acc acc = 0;
      for (std::int64_t n = 0; n < N; ++n) acc = filter_term(acc, n, k, cl, r, s);
      blend<Acc>(dw, c.w.type, c.w.at(k, cl, r, s), acc, alpha, beta);
    });
  }
};

template <typename Acc>
void run_as(Dir dir, int algo, const Conv& c, void* ws, Acc alpha, Acc beta) {
  const Kernels<Acc> k(c, alpha, beta);
  switch (dir) {
    case Dir::Forward: k.forward(algo, ws); break;
    case Dir::BackwardData: k.backward_data(algo, ws); break;
    case Dir::BackwardFilter: k.backward_filter(algo, ws); break;
  }
}

}  // namespace

std::size_t workspace_bytes(Dir dir, int algo, const Conv& c) {
  const std::size_t taps = std::size_t(c.cpg() * c.w.d[2] * c.w.d[3]);
  switch (dir) {
    case Dir::Forward:
      if (algo == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM) return taps * 3 * sizeof(std::int32_t);
      if (algo == CUDNN_CONVOLUTION_FWD_ALGO_GEMM) return taps * std::size_t(c.y.d[2] * c.y.d[3]) * acc_bytes(c);
      return 0;
    case Dir::BackwardData:
      if (algo == CUDNN_CONVOLUTION_BWD_DATA_ALGO_1) return std::size_t(c.x.d[1] * c.x.d[2] * c.x.d[3]) * acc_bytes(c);
      return 0;
    case Dir::BackwardFilter:
      if (algo == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1) return std::size_t(c.w.d[0]) * taps * acc_bytes(c);
      return 0;
  }
  return 0;
}

void run_conv(Dir dir, int algo, const Conv& c, void* ws, double alpha, double beta) {
  if (c.dbl)
    run_as<double>(dir, algo, c, ws, alpha, beta);
  else
    run_as<float>(dir, algo, c, ws, float(alpha), float(beta));
}

}  // namespace emu::dnn
