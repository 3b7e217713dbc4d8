// A standalone measurement, not part of the build: what oneDNN's convolutions cost on this CPU
// for the FER ResNet-18's convolutions (batch 64, 64x64 input) in the two ways a framework can
// keep its activations between layers:
//
//   blocked: the primitive picks its layout (format_tag any: nChw8c on AVX2, nChw16c on
//            AVX-512), and a framework with plain NCHW tensors reorders every activation and
//            gradient in and out of it (what kernels/cpu/conv2d_onednn.cpp does); the reorders
//            are timed on their own;
//   nhwc:    activations channels-last (format_tag nhwc) in and out, no reorders: what a
//            framework with channels_last tensors would run.
//
// It prints, per convolution, the three directions' times and the primitives' names, and the
// totals of a training step (each convolution times its count in the model; the stem's
// backward-data is left out, as its input needs no gradient). docs/decisions.md cites it.
//
//   g++ -O2 -std=c++17 bench/onednn_layouts/onednn_layouts.cpp -o /tmp/onednn_layouts -ldnnl
//   OMP_NUM_THREADS=2 /tmp/onednn_layouts [bf16]
//
// With bf16 the operands are bf16 and the results FP32 (minidl's bf16 plans); on a CPU without
// bf16 instructions oneDNN then names reference implementations ("ref:any") and is very slow.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <oneapi/dnnl/dnnl.hpp>
#include <vector>

using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;

namespace {

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Median-free but warm: one untimed call, then the mean of `reps`.
template <class F>
double time_ms(F f, int reps = 5) {
  f();
  const double t0 = now_ms();
  for (int i = 0; i < reps; ++i) f();
  return (now_ms() - t0) / reps;
}

// Fills a memory object with small nonzero values (no denormals, no NaNs).
void fill(memory& m) {
  const std::size_t bytes = m.get_desc().get_size();
  auto* p = static_cast<unsigned char*>(m.get_data_handle());
  for (std::size_t i = 0; i < bytes; ++i) p[i] = (i % 2) ? 0x3c : 0x00;
}

struct Conv {
  int c, h, k, r, stride, pad, count;
  const char* name;
};

struct Times {
  double fwd = 0, bwd_data = 0, bwd_weights = 0, reorders = 0;
  double total() const { return fwd + bwd_data + bwd_weights + reorders; }
};

Times measure(engine& eng, stream& st, const Conv& l, int n, dt in, bool nhwc, bool need_dx, std::string* impls) {
  const int oh = (l.h + 2 * l.pad - l.r) / l.stride + 1;
  const memory::dims src{n, l.c, l.h, l.h}, wei{l.k, l.c, l.r, l.r}, dst{n, l.k, oh, oh};
  const memory::dims strides{l.stride, l.stride}, pad{l.pad, l.pad};
  const tag act = nhwc ? tag::nhwc : tag::any;
  auto md = [](const memory::dims& d, dt t, tag f) { return memory::desc(d, t, f); };
  // Forward hint: every tensor in the operand type (as minidl builds it).
  auto hint = convolution_forward::primitive_desc(
      convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct, md(src, in, act),
                                md(wei, in, tag::any), md(dst, in, act), strides, pad, pad),
      eng);
  auto fpd = convolution_forward::primitive_desc(
      convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct, md(src, in, act),
                                md(wei, in, tag::any), md(dst, dt::f32, act), strides, pad, pad),
      eng);
  auto dpd = convolution_backward_data::primitive_desc(
      convolution_backward_data::desc(algorithm::convolution_direct, md(src, dt::f32, act), md(wei, in, tag::any),
                                      md(dst, in, act), strides, pad, pad),
      eng, hint);
  auto wpd = convolution_backward_weights::primitive_desc(
      convolution_backward_weights::desc(algorithm::convolution_direct, md(src, in, act), md(wei, dt::f32, tag::any),
                                         md(dst, in, act), strides, pad, pad),
      eng, hint);
  memory x(fpd.src_desc(), eng), w(fpd.weights_desc(), eng), y(fpd.dst_desc(), eng);
  memory dy(dpd.diff_dst_desc(), eng), w2(dpd.weights_desc(), eng), dx(dpd.diff_src_desc(), eng);
  memory x3(wpd.src_desc(), eng), dy3(wpd.diff_dst_desc(), eng), dw(wpd.diff_weights_desc(), eng);
  for (memory* m : {&x, &w, &dy, &w2, &x3, &dy3}) fill(*m);
  convolution_forward f(fpd);
  convolution_backward_data bd(dpd);
  convolution_backward_weights bw(wpd);
  Times t;
  t.fwd = time_ms([&] {
    f.execute(st, {{DNNL_ARG_SRC, x}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, y}});
    st.wait();
  });
  if (need_dx)
    t.bwd_data = time_ms([&] {
      bd.execute(st, {{DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_WEIGHTS, w2}, {DNNL_ARG_DIFF_SRC, dx}});
      st.wait();
    });
  t.bwd_weights = time_ms([&] {
    bw.execute(st, {{DNNL_ARG_SRC, x3}, {DNNL_ARG_DIFF_DST, dy3}, {DNNL_ARG_DIFF_WEIGHTS, dw}});
    st.wait();
  });
  if (!nhwc) {
    // The activation reorders of a plain-NCHW framework around the three primitives: x in and
    // y out (forward), dy in and dx out (backward-data), x and dy in (backward-weights). The
    // weights' reorders are left out: both layouts need them.
    auto reorder_ms = [&](const memory::desc& from, const memory::desc& to) {
      if (from == to) return 0.0;
      memory a(from, eng), b(to, eng);
      fill(a);
      reorder r(a, b);
      return time_ms([&] {
        r.execute(st, a, b);
        st.wait();
      });
    };
    const auto plain_src = md(src, dt::f32, tag::nchw), plain_dst = md(dst, dt::f32, tag::nchw);
    t.reorders = reorder_ms(plain_src, fpd.src_desc()) + reorder_ms(fpd.dst_desc(), plain_dst) +
                 reorder_ms(plain_src, wpd.src_desc()) + reorder_ms(plain_dst, wpd.diff_dst_desc());
    if (need_dx) t.reorders += reorder_ms(plain_dst, dpd.diff_dst_desc()) + reorder_ms(dpd.diff_src_desc(), plain_src);
  }
  *impls = std::string(fpd.impl_info_str()) + "/" + (need_dx ? dpd.impl_info_str() : "-") + "/" + wpd.impl_info_str();
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  const bool bf16 = argc > 1 && std::strcmp(argv[1], "bf16") == 0;
  const dt in = bf16 ? dt::bf16 : dt::f32;
  const int n = 64;
  engine eng(engine::kind::cpu, 0);
  stream st(eng);
  // ResNet-18 on 1x64x64 faces: the stem, then each stage's 3x3s, its strided first 3x3 and its
  // 1x1 shortcut. h is the input map.
  const std::vector<Conv> convs = {
      {1, 64, 64, 7, 2, 3, 1, "7x7 s2 1->64 @64"},     {64, 16, 64, 3, 1, 1, 4, "3x3 64->64 @16"},
      {64, 16, 128, 3, 2, 1, 1, "3x3 s2 64->128 @16"}, {128, 8, 128, 3, 1, 1, 3, "3x3 128->128 @8"},
      {64, 16, 128, 1, 2, 0, 1, "1x1 s2 64->128 @16"}, {128, 8, 256, 3, 2, 1, 1, "3x3 s2 128->256 @8"},
      {256, 4, 256, 3, 1, 1, 3, "3x3 256->256 @4"},    {128, 8, 256, 1, 2, 0, 1, "1x1 s2 128->256 @8"},
      {256, 4, 512, 3, 2, 1, 1, "3x3 s2 256->512 @4"}, {512, 2, 512, 3, 1, 1, 3, "3x3 512->512 @2"},
      {256, 4, 512, 1, 2, 0, 1, "1x1 s2 256->512 @4"}};
  std::printf("oneDNN convolutions of the FER ResNet-18, batch %d, %s operands, ms per call (fwd / bwd-data / "
              "bwd-weights + activation reorders)\n",
              n, bf16 ? "bf16" : "f32");
  Times sum[2];
  for (const Conv& l : convs) {
    std::printf("%-20s x%d", l.name, l.count);
    for (int mode = 0; mode < 2; ++mode) {
      std::string impls;
      const Times t = measure(eng, st, l, n, in, mode == 1, l.c > 1, &impls);
      std::printf("  | %s %6.2f / %6.2f / %6.2f + %5.2f [%s]", mode ? "nhwc   " : "blocked", t.fwd, t.bwd_data,
                  t.bwd_weights, t.reorders, impls.c_str());
      sum[mode].fwd += l.count * t.fwd;
      sum[mode].bwd_data += l.count * t.bwd_data;
      sum[mode].bwd_weights += l.count * t.bwd_weights;
      sum[mode].reorders += l.count * t.reorders;
    }
    std::printf("\n");
  }
  for (int mode = 0; mode < 2; ++mode)
    std::printf("a training step, %s: fwd %.1f + bwd-data %.1f + bwd-weights %.1f + reorders %.1f = %.1f ms\n",
                mode ? "nhwc   " : "blocked", sum[mode].fwd, sum[mode].bwd_data, sum[mode].bwd_weights,
                sum[mode].reorders, sum[mode].total());
  return 0;
}
