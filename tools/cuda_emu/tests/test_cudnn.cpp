// The emulated cuDNN (include/cudnn.h) against direct loops written here: convolutions in every
// direction, algorithm, layout mix, data type, with groups, dilation, stride, padding and
// alpha/beta; batch norm; and the refusals (unsupported configurations, short workspaces).
#include <cudnn.h>

#include <random>

#include "util.h"

namespace {

#define DNN_OK(call) REQUIRE((call) == CUDNN_STATUS_SUCCESS)

// Round to bf16 (nearest, ties to even), written independently of the emulator's.
std::uint16_t to_bf16(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  const std::uint32_t lsb = (u >> 16) & 1u;
  return std::uint16_t((u + 0x7fffu + lsb) >> 16);
}
float from_bf16(std::uint16_t b) {
  const std::uint32_t u = std::uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Device memory holding a logical [a, b, c, d] array (index ((i*b + j)*c + k)*d + l) in a
// format's memory order, of one cuDNN data type; values cross as doubles.
class Operand {
 public:
  Operand(cudnnDataType_t t, cudnnTensorFormat_t f, int a, int b, int c, int d)
      : type_(t), format_(f), dims_{a, b, c, d}, n_(std::size_t(a) * b * c * d) {
    REQUIRE(cudaMalloc(&p_, n_ * bytes()) == cudaSuccess);
  }
  ~Operand() { cudaFree(p_); }
  Operand(const Operand&) = delete;
  Operand& operator=(const Operand&) = delete;
  std::size_t bytes() const { return type_ == CUDNN_DATA_DOUBLE ? 8 : type_ == CUDNN_DATA_BFLOAT16 ? 2 : 4; }
  std::size_t size() const { return n_; }
  void* get() const { return p_; }
  // Memory position of logical index i.
  std::size_t pos(std::size_t i) const {
    const int a = dims_[0], b = dims_[1], c = dims_[2], d = dims_[3];
    (void)a;
    const std::size_t l = i % d, k = i / d % c, j = i / (std::size_t(c) * d) % b, n = i / (std::size_t(b) * c * d);
    if (format_ == CUDNN_TENSOR_NCHW) return i;
    return ((n * c + k) * d + l) * b + j;  // NHWC: [a, c, d, b]
  }
  void upload(const std::vector<double>& v) {
    REQUIRE(v.size() == n_);
    std::vector<unsigned char> raw(n_ * bytes());
    for (std::size_t i = 0; i < n_; ++i) {
      const std::size_t p = pos(i);
      if (type_ == CUDNN_DATA_DOUBLE) std::memcpy(&raw[p * 8], &v[i], 8);
      if (type_ == CUDNN_DATA_FLOAT) {
        const float f = float(v[i]);
        std::memcpy(&raw[p * 4], &f, 4);
      }
      if (type_ == CUDNN_DATA_BFLOAT16) {
        const std::uint16_t h = to_bf16(float(v[i]));
        std::memcpy(&raw[p * 2], &h, 2);
      }
    }
    REQUIRE(cudaMemcpy(p_, raw.data(), raw.size(), cudaMemcpyHostToDevice) == cudaSuccess);
  }
  std::vector<double> download() const {
    std::vector<unsigned char> raw(n_ * bytes());
    REQUIRE(cudaMemcpy(raw.data(), p_, raw.size(), cudaMemcpyDeviceToHost) == cudaSuccess);
    std::vector<double> v(n_);
    for (std::size_t i = 0; i < n_; ++i) {
      const std::size_t p = pos(i);
      if (type_ == CUDNN_DATA_DOUBLE) std::memcpy(&v[i], &raw[p * 8], 8);
      if (type_ == CUDNN_DATA_FLOAT) {
        float f;
        std::memcpy(&f, &raw[p * 4], 4);
        v[i] = f;
      }
      if (type_ == CUDNN_DATA_BFLOAT16) {
        std::uint16_t h;
        std::memcpy(&h, &raw[p * 2], 2);
        v[i] = from_bf16(h);
      }
    }
    return v;
  }

 private:
  cudnnDataType_t type_;
  cudnnTensorFormat_t format_;
  int dims_[4];
  std::size_t n_;
  void* p_ = nullptr;
};

// Values exactly representable in the data type (so the reference sees what the device holds).
std::vector<double> random_values(std::size_t n, std::mt19937& gen, cudnnDataType_t t) {
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<double> v(n);
  for (double& x : v) {
    const float f = u(gen);
    x = t == CUDNN_DATA_BFLOAT16 ? double(from_bf16(to_bf16(f))) : double(f);
  }
  return v;
}

struct Shape {
  int n, c, h, w, k, r, s, pad_h, pad_w, stride_h, stride_w, dil_h, dil_w, groups;
  int oh() const { return (h + 2 * pad_h - ((r - 1) * dil_h + 1)) / stride_h + 1; }
  int ow() const { return (w + 2 * pad_w - ((s - 1) * dil_w + 1)) / stride_w + 1; }
  int cpg() const { return c / groups; }
};

// The three directions as direct sums in double over logical NCHW / KCRS arrays; `flip` for
// CUDNN_CONVOLUTION (the filter rotated by 180 degrees).
struct Reference {
  const Shape& g;
  bool flip;
  int tr(int r) const { return flip ? g.r - 1 - r : r; }
  int ts(int s) const { return flip ? g.s - 1 - s : s; }
  std::size_t xi(int n, int c, int h, int w) const { return ((std::size_t(n) * g.c + c) * g.h + h) * g.w + w; }
  std::size_t wi(int k, int c, int r, int s) const { return ((std::size_t(k) * g.cpg() + c) * g.r + r) * g.s + s; }
  std::size_t yi(int n, int k, int oh, int ow) const {
    return ((std::size_t(n) * g.k + k) * g.oh() + oh) * g.ow() + ow;
  }
  // Calls f(x index, w index, y index) for every product of the convolution.
  template <typename F>
  void each(F&& f) const {
    const int kpg = g.k / g.groups;
    for (int n = 0; n < g.n; ++n)
      for (int k = 0; k < g.k; ++k)
        for (int oh = 0; oh < g.oh(); ++oh)
          for (int ow = 0; ow < g.ow(); ++ow)
            for (int cl = 0; cl < g.cpg(); ++cl)
              for (int r = 0; r < g.r; ++r)
                for (int s = 0; s < g.s; ++s) {
                  const int ih = oh * g.stride_h - g.pad_h + r * g.dil_h, iw = ow * g.stride_w - g.pad_w + s * g.dil_w;
                  if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
                  f(xi(n, (k / kpg) * g.cpg() + cl, ih, iw), wi(k, cl, tr(r), ts(s)), yi(n, k, oh, ow));
                }
  }
};

struct Descs {
  cudnnTensorDescriptor_t x{}, y{};
  cudnnFilterDescriptor_t w{};
  cudnnConvolutionDescriptor_t conv{};
  Descs() {
    DNN_OK(cudnnCreateTensorDescriptor(&x));
    DNN_OK(cudnnCreateTensorDescriptor(&y));
    DNN_OK(cudnnCreateFilterDescriptor(&w));
    DNN_OK(cudnnCreateConvolutionDescriptor(&conv));
  }
  ~Descs() {
    cudnnDestroyTensorDescriptor(x);
    cudnnDestroyTensorDescriptor(y);
    cudnnDestroyFilterDescriptor(w);
    cudnnDestroyConvolutionDescriptor(conv);
  }
  void set(const Shape& g, cudnnDataType_t t, cudnnDataType_t compute, cudnnTensorFormat_t fx, cudnnTensorFormat_t fw,
           cudnnTensorFormat_t fy, cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION) {
    DNN_OK(cudnnSetTensor4dDescriptor(x, fx, t, g.n, g.c, g.h, g.w));
    DNN_OK(cudnnSetFilter4dDescriptor(w, t, fw, g.k, g.cpg(), g.r, g.s));
    DNN_OK(cudnnSetTensor4dDescriptor(y, fy, t, g.n, g.k, g.oh(), g.ow()));
    DNN_OK(cudnnSetConvolution2dDescriptor(conv, g.pad_h, g.pad_w, g.stride_h, g.stride_w, g.dil_h, g.dil_w, mode,
                                           compute));
    DNN_OK(cudnnSetConvolutionGroupCount(conv, g.groups));
  }
};

class Handle {
 public:
  Handle() { DNN_OK(cudnnCreate(&h_)); }
  ~Handle() { cudnnDestroy(h_); }
  cudnnHandle_t get() const { return h_; }

 private:
  cudnnHandle_t h_{};
};

class Workspace {
 public:
  explicit Workspace(std::size_t bytes) : bytes_(bytes) {
    if (bytes) REQUIRE(cudaMalloc(&p_, bytes) == cudaSuccess);
  }
  ~Workspace() { cudaFree(p_); }
  void* get() const { return p_; }
  std::size_t size() const { return bytes_; }

 private:
  std::size_t bytes_;
  void* p_ = nullptr;
};

// |got - want| within atol + rtol |want| for every element; for bf16 outputs one bf16 step of
// the reference (the device rounds its float sum, the reference its double sum).
void require_close(const std::vector<double>& got, const std::vector<double>& want, double atol, double rtol,
                   const std::string& what) {
  INFO(what);
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i << ": got " << got[i] << ", want " << want[i]);
    REQUIRE(std::abs(got[i] - want[i]) <= atol + rtol * std::abs(want[i]));
  }
}

double tolerance(cudnnDataType_t t) { return t == CUDNN_DATA_DOUBLE ? 1e-12 : t == CUDNN_DATA_FLOAT ? 2e-5 : 1e-2; }

double round_to(cudnnDataType_t t, double v) {
  return t == CUDNN_DATA_DOUBLE ? v : t == CUDNN_DATA_FLOAT ? double(float(v)) : double(from_bf16(to_bf16(float(v))));
}

// Runs all three directions with every implemented algorithm, first with beta 0 into outputs
// holding NaN (which must not be read), then with alpha 0.5, beta 2 onto prior values.
void check_all(const Shape& g, cudnnDataType_t t, cudnnTensorFormat_t fx, cudnnTensorFormat_t fw,
               cudnnTensorFormat_t fy, cudnnConvolutionMode_t mode, std::uint32_t seed) {
  const std::string tag = std::string("type ") + std::to_string(t) + " formats x/w/y " + std::to_string(fx) + "/" +
                          std::to_string(fw) + "/" + std::to_string(fy) + " groups " + std::to_string(g.groups) +
                          " mode " + std::to_string(mode);
  INFO(tag);
  EmuTest emu_test;
  Handle h;
  Descs d;
  d.set(g, t, t == CUDNN_DATA_DOUBLE ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT, fx, fw, fy, mode);
  std::mt19937 gen(seed);
  Operand x(t, fx, g.n, g.c, g.h, g.w), w(t, fw, g.k, g.cpg(), g.r, g.s), y(t, fy, g.n, g.k, g.oh(), g.ow());
  const auto xv = random_values(x.size(), gen, t), wv = random_values(w.size(), gen, t);
  const auto yv = random_values(y.size(), gen, t);
  x.upload(xv), w.upload(wv);
  const Reference ref{g, mode == CUDNN_CONVOLUTION};
  std::vector<double> fwd(y.size()), bdata(x.size()), bfilter(w.size());
  ref.each([&](std::size_t xi, std::size_t wi, std::size_t yi) {
    fwd[yi] += xv[xi] * wv[wi];
    bdata[xi] += yv[yi] * wv[wi];
    bfilter[wi] += xv[xi] * yv[yi];
  });
  const double tol = tolerance(t);
  const bool dbl = t == CUDNN_DATA_DOUBLE;
  const float one_f = 1.f, zero_f = 0.f, half_f = 0.5f, two_f = 2.f;
  const double one_d = 1, zero_d = 0, half_d = 0.5, two_d = 2;
  const void* one = dbl ? static_cast<const void*>(&one_d) : &one_f;
  const void* zero = dbl ? static_cast<const void*>(&zero_d) : &zero_f;
  const void* half = dbl ? static_cast<const void*>(&half_d) : &half_f;
  const void* two = dbl ? static_cast<const void*>(&two_d) : &two_f;
  // prior values, and the blended expectation 0.5 * conv + 2 * prior
  auto blended = [&](const std::vector<double>& conv, const std::vector<double>& prior) {
    std::vector<double> v(conv.size());
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = round_to(t, 0.5 * conv[i] + 2 * prior[i]);
    return v;
  };
  auto rounded = [&](std::vector<double> v) {
    for (double& e : v) e = round_to(t, e);
    return v;
  };
  const std::vector<double> nan_fill(std::max({x.size(), w.size(), y.size()}), std::nan(""));

  for (const cudnnConvolutionFwdAlgo_t algo : {CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM,
                                               CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM,
                                               CUDNN_CONVOLUTION_FWD_ALGO_GEMM}) {
    INFO("forward algorithm " << algo);
    std::size_t bytes = 0;
    DNN_OK(cudnnGetConvolutionForwardWorkspaceSize(h.get(), d.x, d.w, d.conv, d.y, algo, &bytes));
    Workspace ws(bytes);
    Operand out(t, fy, g.n, g.k, g.oh(), g.ow());
    out.upload(std::vector<double>(nan_fill.begin(), nan_fill.begin() + long(out.size())));
    DNN_OK(cudnnConvolutionForward(h.get(), one, d.x, x.get(), d.w, w.get(), d.conv, algo, ws.get(), ws.size(), zero,
                                   d.y, out.get()));
    require_close(out.download(), rounded(fwd), tol, tol, "forward, beta 0");
    const auto prior = random_values(out.size(), gen, t);
    out.upload(prior);
    DNN_OK(cudnnConvolutionForward(h.get(), half, d.x, x.get(), d.w, w.get(), d.conv, algo, ws.get(), ws.size(), two,
                                   d.y, out.get()));
    require_close(out.download(), blended(fwd, prior), tol, tol, "forward, alpha 0.5 beta 2");
  }
  y.upload(yv);  // dy from here on
  for (const cudnnConvolutionBwdDataAlgo_t algo : {CUDNN_CONVOLUTION_BWD_DATA_ALGO_0, CUDNN_CONVOLUTION_BWD_DATA_ALGO_1}) {
    INFO("backward data algorithm " << algo);
    std::size_t bytes = 0;
    DNN_OK(cudnnGetConvolutionBackwardDataWorkspaceSize(h.get(), d.w, d.y, d.conv, d.x, algo, &bytes));
    Workspace ws(bytes);
    Operand dx(t, fx, g.n, g.c, g.h, g.w);
    dx.upload(std::vector<double>(nan_fill.begin(), nan_fill.begin() + long(dx.size())));
    DNN_OK(cudnnConvolutionBackwardData(h.get(), one, d.w, w.get(), d.y, y.get(), d.conv, algo, ws.get(), ws.size(),
                                        zero, d.x, dx.get()));
    require_close(dx.download(), rounded(bdata), tol, tol, "backward data, beta 0");
    const auto prior = random_values(dx.size(), gen, t);
    dx.upload(prior);
    DNN_OK(cudnnConvolutionBackwardData(h.get(), half, d.w, w.get(), d.y, y.get(), d.conv, algo, ws.get(), ws.size(),
                                        two, d.x, dx.get()));
    require_close(dx.download(), blended(bdata, prior), tol, tol, "backward data, alpha 0.5 beta 2");
  }
  for (const cudnnConvolutionBwdFilterAlgo_t algo :
       {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1}) {
    INFO("backward filter algorithm " << algo);
    std::size_t bytes = 0;
    DNN_OK(cudnnGetConvolutionBackwardFilterWorkspaceSize(h.get(), d.x, d.y, d.conv, d.w, algo, &bytes));
    Workspace ws(bytes);
    Operand dw(t, fw, g.k, g.cpg(), g.r, g.s);
    dw.upload(std::vector<double>(nan_fill.begin(), nan_fill.begin() + long(dw.size())));
    DNN_OK(cudnnConvolutionBackwardFilter(h.get(), one, d.x, x.get(), d.y, y.get(), d.conv, algo, ws.get(), ws.size(),
                                          zero, d.w, dw.get()));
    require_close(dw.download(), rounded(bfilter), tol, tol, "backward filter, beta 0");
    const auto prior = random_values(dw.size(), gen, t);
    dw.upload(prior);
    DNN_OK(cudnnConvolutionBackwardFilter(h.get(), half, d.x, x.get(), d.y, y.get(), d.conv, algo, ws.get(),
                                          ws.size(), two, d.w, dw.get()));
    require_close(dw.download(), blended(bfilter, prior), tol, tol, "backward filter, alpha 0.5 beta 2");
  }
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
}

const Shape kPlain{2, 3, 7, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1};
const Shape kGroupedDilated{2, 6, 9, 8, 4, 3, 2, 2, 1, 2, 1, 2, 3, 2};
const Shape kDepthwise{1, 4, 6, 6, 8, 3, 3, 0, 1, 1, 2, 1, 1, 4};

}  // namespace

TEST_CASE("cudnn: FLOAT convolutions match a direct loop, NCHW and NHWC, groups, dilation, alpha/beta",
          "[emu][cudnn]") {
  std::uint32_t seed = 1;
  for (const Shape& g : {kPlain, kGroupedDilated, kDepthwise}) {
    check_all(g, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, CUDNN_TENSOR_NCHW, CUDNN_TENSOR_NCHW, CUDNN_CROSS_CORRELATION,
              seed++);
    check_all(g, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, CUDNN_TENSOR_NHWC, CUDNN_TENSOR_NHWC, CUDNN_CROSS_CORRELATION,
              seed++);
  }
  // A mix of formats, and true convolution (the filter flipped).
  check_all(kGroupedDilated, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, CUDNN_TENSOR_NCHW, CUDNN_TENSOR_NCHW,
            CUDNN_CROSS_CORRELATION, seed++);
  check_all(kGroupedDilated, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, CUDNN_TENSOR_NHWC, CUDNN_TENSOR_NHWC,
            CUDNN_CONVOLUTION, seed++);
}

TEST_CASE("cudnn: BFLOAT16 data with FLOAT compute, and DOUBLE, match a direct loop", "[emu][cudnn]") {
  check_all(kGroupedDilated, CUDNN_DATA_BFLOAT16, CUDNN_TENSOR_NHWC, CUDNN_TENSOR_NHWC, CUDNN_TENSOR_NHWC,
            CUDNN_CROSS_CORRELATION, 11);
  check_all(kPlain, CUDNN_DATA_BFLOAT16, CUDNN_TENSOR_NCHW, CUDNN_TENSOR_NCHW, CUDNN_TENSOR_NCHW,
            CUDNN_CROSS_CORRELATION, 12);
  check_all(kGroupedDilated, CUDNN_DATA_DOUBLE, CUDNN_TENSOR_NHWC, CUDNN_TENSOR_NCHW, CUDNN_TENSOR_NHWC,
            CUDNN_CONVOLUTION, 13);
}

TEST_CASE("cudnn: bf16 stores round to nearest even", "[emu][cudnn]") {
  // 1 + 2^-8 is halfway between bf16 1 and 1 + 2^-7: ties to even gives 1. 1 + 3 * 2^-8 is
  // halfway between 1 + 2^-7 and 1 + 2^-6: gives 1 + 2^-6. A 1x1 convolution with weight 1
  // stores x's float value rounded.
  EmuTest emu_test;
  Handle h;
  Descs d;
  const Shape g{1, 1, 1, 2, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1};
  d.set(g, CUDNN_DATA_FLOAT, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, CUDNN_TENSOR_NCHW, CUDNN_TENSOR_NCHW);
  // x in float, y in bf16 is not a supported configuration: scale bf16 inputs instead: x = 1 and
  // 1 + 2^-7 (exact in bf16), w = 1 + 2^-8 is not exact; use alpha to form the halfway sums.
  cudnnTensorDescriptor_t xb{}, yb{};
  cudnnFilterDescriptor_t wb{};
  DNN_OK(cudnnCreateTensorDescriptor(&xb));
  DNN_OK(cudnnCreateTensorDescriptor(&yb));
  DNN_OK(cudnnCreateFilterDescriptor(&wb));
  DNN_OK(cudnnSetTensor4dDescriptor(xb, CUDNN_TENSOR_NCHW, CUDNN_DATA_BFLOAT16, 1, 1, 1, 2));
  DNN_OK(cudnnSetTensor4dDescriptor(yb, CUDNN_TENSOR_NCHW, CUDNN_DATA_BFLOAT16, 1, 1, 1, 2));
  DNN_OK(cudnnSetFilter4dDescriptor(wb, CUDNN_DATA_BFLOAT16, CUDNN_TENSOR_NCHW, 1, 1, 1, 1));
  Operand x(CUDNN_DATA_BFLOAT16, CUDNN_TENSOR_NCHW, 1, 1, 1, 2), w(CUDNN_DATA_BFLOAT16, CUDNN_TENSOR_NCHW, 1, 1, 1, 1);
  Operand y(CUDNN_DATA_BFLOAT16, CUDNN_TENSOR_NCHW, 1, 1, 1, 2);
  x.upload({1.0, 1.0 + std::ldexp(1.0, -7)});
  w.upload({1.0});
  // alpha * x: 1 * (1 + 2^-8) / 1 ... formed as x * w * alpha with alpha = 1 + 2^-8 for element 0:
  // (1 + 2^-8) rounds to 1; element 1: (1 + 2^-7)(1 + 2^-8) = 1 + 3 * 2^-8 + 2^-15, just above
  // halfway, rounds up to 1 + 2^-6.
  const float alpha = 1.f + std::ldexp(1.f, -8), beta = 0.f;
  DNN_OK(cudnnConvolutionForward(h.get(), &alpha, xb, x.get(), wb, w.get(), d.conv,
                                 CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, nullptr, 0, &beta, yb, y.get()));
  const auto got = y.download();
  CHECK(got[0] == 1.0);
  CHECK(got[1] == 1.0 + std::ldexp(1.0, -6));
  cudnnDestroyTensorDescriptor(xb);
  cudnnDestroyTensorDescriptor(yb);
  cudnnDestroyFilterDescriptor(wb);
}

TEST_CASE("cudnn: unsupported configurations and inconsistent descriptors are refused", "[emu][cudnn]") {
  EmuTest emu_test;
  Handle h;
  Descs d;
  std::size_t bytes = 0;
  const auto fwd_ws = [&] {
    return cudnnGetConvolutionForwardWorkspaceSize(h.get(), d.x, d.w, d.conv, d.y,
                                                   CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, &bytes);
  };
  const auto last = [] {
    char m[512];
    cudnnGetLastErrorString(m, sizeof m);
    return std::string(m);
  };
  // BFLOAT16 compute: cuDNN's legacy API has PSEUDO_BFLOAT16_CONFIG (FLOAT compute) only.
  d.set(kPlain, CUDNN_DATA_BFLOAT16, CUDNN_DATA_BFLOAT16, CUDNN_TENSOR_NHWC, CUDNN_TENSOR_NHWC, CUDNN_TENSOR_NHWC);
  CHECK(fwd_ws() == CUDNN_STATUS_NOT_SUPPORTED);
  CHECK(contains(last(), "BFLOAT16 data with BFLOAT16 compute"));
  d.set(kPlain, CUDNN_DATA_FLOAT, CUDNN_DATA_DOUBLE, CUDNN_TENSOR_NCHW, CUDNN_TENSOR_NCHW, CUDNN_TENSOR_NCHW);
  CHECK(fwd_ws() == CUDNN_STATUS_NOT_SUPPORTED);
  d.set(kPlain, CUDNN_DATA_FLOAT, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, CUDNN_TENSOR_NCHW, CUDNN_TENSOR_NCHW);
  CHECK(fwd_ws() == CUDNN_STATUS_SUCCESS);
  // x, w, y of different types
  DNN_OK(cudnnSetFilter4dDescriptor(d.w, CUDNN_DATA_DOUBLE, CUDNN_TENSOR_NCHW, kPlain.k, kPlain.c, kPlain.r, kPlain.s));
  CHECK(fwd_ws() == CUDNN_STATUS_BAD_PARAM);
  CHECK(contains(last(), "one data type"));
  // channels that do not divide into the groups
  DNN_OK(cudnnSetFilter4dDescriptor(d.w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, kPlain.k, kPlain.c, kPlain.r, kPlain.s));
  DNN_OK(cudnnSetConvolutionGroupCount(d.conv, 2));
  CHECK(fwd_ws() == CUDNN_STATUS_BAD_PARAM);
  DNN_OK(cudnnSetConvolutionGroupCount(d.conv, 1));
  // y not the shape GetConvolution2dForwardOutputDim gives
  int n = 0, c = 0, oh = 0, ow = 0;
  DNN_OK(cudnnGetConvolution2dForwardOutputDim(d.conv, d.x, d.w, &n, &c, &oh, &ow));
  CHECK((n == kPlain.n && c == kPlain.k && oh == kPlain.oh() && ow == kPlain.ow()));
  DNN_OK(cudnnSetTensor4dDescriptor(d.y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, c, oh + 1, ow));
  CHECK(fwd_ws() == CUDNN_STATUS_BAD_PARAM);
  CHECK(contains(last(), "gives [2, 4, 7, 6]"));
  // a filter larger than the padded input, a negative padding
  DNN_OK(cudnnSetFilter4dDescriptor(d.w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, 4, 3, 11, 3));
  CHECK(cudnnGetConvolution2dForwardOutputDim(d.conv, d.x, d.w, &n, &c, &oh, &ow) == CUDNN_STATUS_BAD_PARAM);
  CHECK(cudnnSetConvolution2dDescriptor(d.conv, -1, 0, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT) ==
        CUDNN_STATUS_BAD_PARAM);
  CHECK(cudnnSetTensor4dDescriptor(d.x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 0, 1, 1, 1) == CUDNN_STATUS_BAD_PARAM);
  CHECK(std::string(cudnnGetErrorString(CUDNN_STATUS_NOT_SUPPORTED)) == "CUDNN_STATUS_NOT_SUPPORTED");
  CHECK(cudnnGetVersion() == CUDNN_VERSION);
}

TEST_CASE("cudnn: a workspace too small or not in device memory is refused", "[emu][cudnn]") {
  EmuTest emu_test;
  Handle h;
  Descs d;
  d.set(kPlain, CUDNN_DATA_FLOAT, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, CUDNN_TENSOR_NCHW, CUDNN_TENSOR_NCHW);
  Operand x(CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, kPlain.n, kPlain.c, kPlain.h, kPlain.w);
  Operand w(CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, kPlain.k, kPlain.c, kPlain.r, kPlain.s);
  Operand y(CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, kPlain.n, kPlain.k, kPlain.oh(), kPlain.ow());
  const float one = 1.f, zero = 0.f;
  std::size_t need = 0;
  DNN_OK(cudnnGetConvolutionForwardWorkspaceSize(h.get(), d.x, d.w, d.conv, d.y, CUDNN_CONVOLUTION_FWD_ALGO_GEMM,
                                                 &need));
  // im2col of one image: c r s columns of oh ow floats
  CHECK(need == std::size_t(kPlain.c * kPlain.r * kPlain.s * kPlain.oh() * kPlain.ow()) * 4);
  Workspace ws(need);
  CHECK(cudnnConvolutionForward(h.get(), &one, d.x, x.get(), d.w, w.get(), d.conv, CUDNN_CONVOLUTION_FWD_ALGO_GEMM,
                                ws.get(), need - 4, &zero, d.y, y.get()) == CUDNN_STATUS_BAD_PARAM);
  char m[512];
  cudnnGetLastErrorString(m, sizeof m);
  CHECK(contains(m, "needs " + std::to_string(need) + " bytes of workspace"));
  CHECK(cudnnConvolutionForward(h.get(), &one, d.x, x.get(), d.w, w.get(), d.conv, CUDNN_CONVOLUTION_FWD_ALGO_GEMM,
                                nullptr, need, &zero, d.y, y.get()) == CUDNN_STATUS_BAD_PARAM);
  // Algorithms the emulator does not implement are NOT_SUPPORTED, not run.
  CHECK(cudnnConvolutionForward(h.get(), &one, d.x, x.get(), d.w, w.get(), d.conv, CUDNN_CONVOLUTION_FWD_ALGO_FFT,
                                ws.get(), need, &zero, d.y, y.get()) == CUDNN_STATUS_NOT_SUPPORTED);
  // Not in place: an output sharing bytes with an input (or the workspace with an operand).
  std::size_t precomp = 0;
  DNN_OK(cudnnGetConvolutionForwardWorkspaceSize(h.get(), d.x, d.w, d.conv, d.y,
                                                 CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, &precomp));
  REQUIRE((precomp > 0 && precomp <= y.size() * 4));
  CHECK(cudnnConvolutionForward(h.get(), &one, d.x, x.get(), d.w, w.get(), d.conv,
                                CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, y.get(), precomp, &zero, d.y,
                                y.get()) == CUDNN_STATUS_BAD_PARAM);
  cudnnGetLastErrorString(m, sizeof m);
  CHECK(contains(m, "overlap"));
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  // A workspace in host memory: the device would fault on it.
  std::vector<unsigned char> host(need);
  CHECK(cudnnConvolutionForward(h.get(), &one, d.x, x.get(), d.w, w.get(), d.conv, CUDNN_CONVOLUTION_FWD_ALGO_GEMM,
                                host.data(), need, &zero, d.y, y.get()) == CUDNN_STATUS_EXECUTION_FAILED);
  check_error(cudaDeviceSynchronize(), cudaErrorIllegalAddress, {"workSpace", "a host address"});
}

TEST_CASE("cudnn: Find runs every algorithm into the caller's buffers; Get_v7 ranks without running",
          "[emu][cudnn]") {
  EmuTest emu_test;
  Handle h;
  Descs d;
  d.set(kGroupedDilated, CUDNN_DATA_FLOAT, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, CUDNN_TENSOR_NCHW,
        CUDNN_TENSOR_NCHW);
  const Shape& g = kGroupedDilated;
  std::mt19937 gen(5);
  Operand x(CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, g.n, g.c, g.h, g.w);
  Operand w(CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, g.k, g.cpg(), g.r, g.s);
  Operand y(CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, g.n, g.k, g.oh(), g.ow());
  const auto xv = random_values(x.size(), gen, CUDNN_DATA_FLOAT), wv = random_values(w.size(), gen, CUDNN_DATA_FLOAT);
  x.upload(xv), w.upload(wv);
  y.upload(std::vector<double>(y.size(), std::nan("")));
  std::size_t precomp = 0, gemm = 0;
  DNN_OK(cudnnGetConvolutionForwardWorkspaceSize(h.get(), d.x, d.w, d.conv, d.y,
                                                 CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, &precomp));
  DNN_OK(cudnnGetConvolutionForwardWorkspaceSize(h.get(), d.x, d.w, d.conv, d.y, CUDNN_CONVOLUTION_FWD_ALGO_GEMM, &gemm));
  REQUIRE((precomp > 0 && gemm > precomp));
  // A workspace that fits the precomputed-index algorithm but not GEMM's im2col.
  Workspace ws(precomp);
  cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
  int returned = 0;
  DNN_OK(cudnnFindConvolutionForwardAlgorithmEx(h.get(), d.x, x.get(), d.w, w.get(), d.conv, d.y, y.get(),
                                                CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, perf, ws.get(),
                                                ws.size()));
  REQUIRE(returned == CUDNN_CONVOLUTION_FWD_ALGO_COUNT);
  CHECK(perf[0].status == CUDNN_STATUS_SUCCESS);
  CHECK(perf[1].status == CUDNN_STATUS_SUCCESS);
  CHECK(perf[0].time <= perf[1].time);
  CHECK(perf[2].algo == CUDNN_CONVOLUTION_FWD_ALGO_GEMM);  // its workspace did not fit
  CHECK(perf[2].status != CUDNN_STATUS_SUCCESS);
  CHECK(perf[2].memory == gemm);
  for (int i = 0; i < 2; ++i) {
    CHECK(perf[i].memory == (perf[i].algo == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM ? precomp : 0));
    CHECK(perf[i].determinism == CUDNN_DETERMINISTIC);
    CHECK(perf[i].mathType == CUDNN_DEFAULT_MATH);
  }
  // The search left the convolution in y.
  std::vector<double> want(y.size());
  Reference{g, false}.each([&](std::size_t xi, std::size_t wi, std::size_t yi) { want[yi] += xv[xi] * wv[wi]; });
  require_close(y.download(), want, 2e-5, 2e-5, "y after Find");

  // Heuristics: backward data ALGO_0 and backward filter ALGO_0 are non-deterministic (cuDNN's
  // documentation), ranked after the deterministic ALGO_1.
  cudnnConvolutionBwdDataAlgoPerf_t dperf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
  DNN_OK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h.get(), d.w, d.y, d.conv, d.x,
                                                     CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &returned, dperf));
  REQUIRE(returned == CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT);
  CHECK((dperf[0].algo == CUDNN_CONVOLUTION_BWD_DATA_ALGO_1 && dperf[0].determinism == CUDNN_DETERMINISTIC));
  CHECK((dperf[1].algo == CUDNN_CONVOLUTION_BWD_DATA_ALGO_0 && dperf[1].determinism == CUDNN_NON_DETERMINISTIC));
  CHECK(dperf[2].status == CUDNN_STATUS_NOT_SUPPORTED);
  cudnnConvolutionBwdFilterAlgoPerf_t fperf[2];
  DNN_OK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h.get(), d.x, d.y, d.conv, d.w, 2, &returned, fperf));
  REQUIRE(returned == 2);  // no more than asked for
  CHECK((fperf[0].algo == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1 && fperf[0].memory > 0));

  // Math types: FMA_MATH restricts every algorithm to FMA; BFLOAT16 data otherwise reports
  // tensor cores.
  DNN_OK(cudnnSetConvolutionMathType(d.conv, CUDNN_FMA_MATH));
  DNN_OK(cudnnGetConvolutionForwardAlgorithm_v7(h.get(), d.x, d.w, d.conv, d.y, 1, &returned, perf));
  CHECK(perf[0].mathType == CUDNN_FMA_MATH);
  d.set(kPlain, CUDNN_DATA_BFLOAT16, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, CUDNN_TENSOR_NHWC, CUDNN_TENSOR_NHWC);
  DNN_OK(cudnnGetConvolutionForwardAlgorithm_v7(h.get(), d.x, d.w, d.conv, d.y, 1, &returned, perf));
  CHECK(perf[0].mathType == CUDNN_FMA_MATH);
  DNN_OK(cudnnSetConvolutionMathType(d.conv, CUDNN_DEFAULT_MATH));
  DNN_OK(cudnnGetConvolutionForwardAlgorithm_v7(h.get(), d.x, d.w, d.conv, d.y, 1, &returned, perf));
  CHECK(perf[0].mathType == CUDNN_TENSOR_OP_MATH);
}

// ---- batch norm ----

namespace {

struct BnRef {
  std::vector<double> mean, var;  // biased
};

BnRef bn_stats(const std::vector<double>& x, int n, int c, int hw) {
  BnRef r{std::vector<double>(c), std::vector<double>(c)};
  const double m = double(n) * hw;
  for (int ci = 0; ci < c; ++ci) {
    double s = 0, q = 0;
    for (int ni = 0; ni < n; ++ni)
      for (int i = 0; i < hw; ++i) s += x[(std::size_t(ni) * c + ci) * hw + i];
    r.mean[ci] = s / m;
    for (int ni = 0; ni < n; ++ni)
      for (int i = 0; i < hw; ++i) {
        const double d = x[(std::size_t(ni) * c + ci) * hw + i] - r.mean[ci];
        q += d * d;
      }
    r.var[ci] = q / m;
  }
  return r;
}

}  // namespace

TEST_CASE("cudnn: batch norm training, inference and backward match direct formulas, NCHW and NHWC",
          "[emu][cudnn]") {
  for (const cudnnTensorFormat_t fmt : {CUDNN_TENSOR_NCHW, CUDNN_TENSOR_NHWC}) {
    INFO("format " << fmt);
    EmuTest emu_test;
    Handle h;
    const int N = 3, C = 4, H = 5, W = 2, HW = H * W;
    const double m = double(N) * HW, eps = 1e-3, factor = 0.25;
    cudnnTensorDescriptor_t xd{}, pd{};
    DNN_OK(cudnnCreateTensorDescriptor(&xd));
    DNN_OK(cudnnCreateTensorDescriptor(&pd));
    DNN_OK(cudnnSetTensor4dDescriptor(xd, fmt, CUDNN_DATA_FLOAT, N, C, H, W));
    DNN_OK(cudnnDeriveBNTensorDescriptor(pd, xd, CUDNN_BATCHNORM_SPATIAL));
    std::mt19937 gen(7);
    Operand x(CUDNN_DATA_FLOAT, fmt, N, C, H, W), y(CUDNN_DATA_FLOAT, fmt, N, C, H, W);
    Operand dy(CUDNN_DATA_FLOAT, fmt, N, C, H, W), dx(CUDNN_DATA_FLOAT, fmt, N, C, H, W);
    Operand gamma(CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, 1, C, 1, 1), beta(CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, 1, C, 1, 1);
    Operand rmean(CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, 1, C, 1, 1), rvar(CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, 1, C, 1, 1);
    Operand smean(CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, 1, C, 1, 1), sinv(CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, 1, C, 1, 1);
    Operand dg(CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, 1, C, 1, 1), db(CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, 1, C, 1, 1);
    auto xv = random_values(x.size(), gen, CUDNN_DATA_FLOAT);
    for (double& v : xv) v = double(float(3 * v + 1));  // a mean and spread away from 0 and 1
    const auto gv = random_values(C, gen, CUDNN_DATA_FLOAT), bv = random_values(C, gen, CUDNN_DATA_FLOAT);
    const auto rm0 = random_values(C, gen, CUDNN_DATA_FLOAT), dyv = random_values(x.size(), gen, CUDNN_DATA_FLOAT);
    std::vector<double> rv0(C);
    for (double& v : rv0) v = 0.5 + std::abs(random_values(1, gen, CUDNN_DATA_FLOAT)[0]);
    x.upload(xv), gamma.upload(gv), beta.upload(bv), rmean.upload(rm0), rvar.upload(rv0), dy.upload(dyv);
    y.upload(std::vector<double>(y.size(), std::nan("")));
    const float one = 1.f, zero = 0.f;
    DNN_OK(cudnnBatchNormalizationForwardTraining(h.get(), CUDNN_BATCHNORM_SPATIAL, &one, &zero, xd, x.get(), xd,
                                                  y.get(), pd, gamma.get(), beta.get(), factor, rmean.get(), rvar.get(),
                                                  eps, smean.get(), sinv.get()));
    const BnRef r = bn_stats(xv, N, C, HW);
    std::vector<double> want_y(x.size()), want_rm(C), want_rv(C), want_inv(C);
    for (int c = 0; c < C; ++c) {
      want_inv[c] = 1 / std::sqrt(r.var[c] + eps);
      want_rm[c] = (1 - factor) * rm0[c] + factor * r.mean[c];
      want_rv[c] = (1 - factor) * rv0[c] + factor * r.var[c] * m / (m - 1);  // unbiased
      for (int n = 0; n < N; ++n)
        for (int i = 0; i < HW; ++i) {
          const std::size_t e = (std::size_t(n) * C + c) * HW + i;
          want_y[e] = gv[c] * (xv[e] - r.mean[c]) * want_inv[c] + bv[c];
        }
    }
    require_close(y.download(), want_y, 1e-5, 1e-5, "training y");
    require_close(rmean.download(), want_rm, 1e-6, 1e-6, "running mean");
    require_close(rvar.download(), want_rv, 1e-6, 1e-6, "running variance (unbiased)");
    require_close(smean.download(), r.mean, 1e-6, 1e-6, "saved mean");
    require_close(sinv.download(), want_inv, 1e-6, 1e-6, "saved inverse std");

    // Inference from the running statistics, blended: y = 0.5 bn(x) + 2 y.
    const float half = 0.5f, two = 2.f;
    const auto prior = random_values(y.size(), gen, CUDNN_DATA_FLOAT);
    y.upload(prior);
    DNN_OK(cudnnBatchNormalizationForwardInference(h.get(), CUDNN_BATCHNORM_SPATIAL, &half, &two, xd, x.get(), xd,
                                                   y.get(), pd, gamma.get(), beta.get(), rmean.get(), rvar.get(), eps));
    for (int c = 0; c < C; ++c)
      for (int n = 0; n < N; ++n)
        for (int i = 0; i < HW; ++i) {
          const std::size_t e = (std::size_t(n) * C + c) * HW + i;
          want_y[e] = 0.5 * (gv[c] * (xv[e] - want_rm[c]) / std::sqrt(want_rv[c] + eps) + bv[c]) + 2 * prior[e];
        }
    require_close(y.download(), want_y, 1e-5, 1e-5, "inference, alpha 0.5 beta 2");

    // Backward from the saved statistics: dx overwritten, the parameter gradients accumulated.
    dx.upload(std::vector<double>(dx.size(), std::nan("")));
    const auto dg0 = random_values(C, gen, CUDNN_DATA_FLOAT), db0 = random_values(C, gen, CUDNN_DATA_FLOAT);
    dg.upload(dg0), db.upload(db0);
    DNN_OK(cudnnBatchNormalizationBackward(h.get(), CUDNN_BATCHNORM_SPATIAL, &one, &zero, &one, &one, xd, x.get(), xd,
                                           dy.get(), xd, dx.get(), pd, gamma.get(), dg.get(), db.get(), eps,
                                           smean.get(), sinv.get()));
    std::vector<double> want_dx(x.size()), want_dg(C), want_db(C);
    for (int c = 0; c < C; ++c) {
      double sdy = 0, sdyx = 0;
      for (int n = 0; n < N; ++n)
        for (int i = 0; i < HW; ++i) {
          const std::size_t e = (std::size_t(n) * C + c) * HW + i;
          sdy += dyv[e];
          sdyx += dyv[e] * (xv[e] - r.mean[c]) * want_inv[c];
        }
      want_dg[c] = dg0[c] + sdyx;
      want_db[c] = db0[c] + sdy;
      for (int n = 0; n < N; ++n)
        for (int i = 0; i < HW; ++i) {
          const std::size_t e = (std::size_t(n) * C + c) * HW + i;
          const double xhat = (xv[e] - r.mean[c]) * want_inv[c];
          want_dx[e] = gv[c] * want_inv[c] * (dyv[e] - sdy / m - xhat * sdyx / m);
        }
    }
    require_close(dx.download(), want_dx, 1e-5, 1e-5, "backward dx");
    require_close(dg.download(), want_dg, 1e-5, 1e-5, "backward dgamma (accumulated)");
    require_close(db.download(), want_db, 1e-5, 1e-5, "backward dbeta (accumulated)");

    // Refusals: a negative epsilon, only one of the running statistics, a mis-shaped parameter
    // descriptor.
    CHECK(cudnnBatchNormalizationForwardTraining(h.get(), CUDNN_BATCHNORM_SPATIAL, &one, &zero, xd, x.get(), xd,
                                                 y.get(), pd, gamma.get(), beta.get(), factor, rmean.get(), rvar.get(),
                                                 -1e-5, smean.get(), sinv.get()) == CUDNN_STATUS_BAD_PARAM);
    CHECK(cudnnBatchNormalizationForwardTraining(h.get(), CUDNN_BATCHNORM_SPATIAL, &one, &zero, xd, x.get(), xd,
                                                 y.get(), pd, gamma.get(), beta.get(), factor, rmean.get(), nullptr,
                                                 eps, smean.get(), sinv.get()) == CUDNN_STATUS_BAD_PARAM);
    CHECK(cudnnBatchNormalizationForwardInference(h.get(), CUDNN_BATCHNORM_SPATIAL, &one, &zero, xd, x.get(), xd,
                                                  y.get(), xd, gamma.get(), beta.get(), rmean.get(), rvar.get(),
                                                  eps) == CUDNN_STATUS_BAD_PARAM);
    REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
    cudnnDestroyTensorDescriptor(xd);
    cudnnDestroyTensorDescriptor(pd);
  }
}

TEST_CASE("cudnn: work on the handle's stream is seen by the race checker", "[emu][cudnn]") {
  // A convolution queued on stream a writes y; a copy on stream b reads y without waiting.
  EmuTest emu_test(with([](emu::Settings& s) {
    s.async = true;
    s.check_races = true;
  }));
  Handle h;
  Descs d;
  d.set(kPlain, CUDNN_DATA_FLOAT, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, CUDNN_TENSOR_NCHW, CUDNN_TENSOR_NCHW);
  Operand x(CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, kPlain.n, kPlain.c, kPlain.h, kPlain.w);
  Operand w(CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, kPlain.k, kPlain.c, kPlain.r, kPlain.s);
  Operand y(CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, kPlain.n, kPlain.k, kPlain.oh(), kPlain.ow());
  Operand other(CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, kPlain.n, kPlain.k, kPlain.oh(), kPlain.ow());
  cudaStream_t a{}, b{};
  REQUIRE(cudaStreamCreateWithFlags(&a, cudaStreamNonBlocking) == cudaSuccess);
  REQUIRE(cudaStreamCreateWithFlags(&b, cudaStreamNonBlocking) == cudaSuccess);
  DNN_OK(cudnnSetStream(h.get(), a));
  const float one = 1.f, zero = 0.f;
  DNN_OK(cudnnConvolutionForward(h.get(), &one, d.x, x.get(), d.w, w.get(), d.conv,
                                 CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, nullptr, 0, &zero, d.y, y.get()));
  check_error(cudaMemcpyAsync(other.get(), y.get(), y.size() * 4, cudaMemcpyDeviceToDevice, b), cudaErrorUnknown,
              {"race between streams", "cudnnConvolutionForward"});
  cudaStreamDestroy(a);
  cudaStreamDestroy(b);
}
