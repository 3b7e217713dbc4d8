// SyncBatchNorm on CUDA (kernels/cuda/sync_batch_norm.cu, core/ops/sync_batch_norm.cpp), on a GPU
// or the emulator, skipped without either:
//   - its kernels against their CPU twins (kernels/cpu/sync_batch_norm.cpp) on each rank's part of
//     a batch, with the per-channel sums added between ranks as the op's all_reduce does;
//   - the op and the BatchNorm2d layer on two ranks, two threads of this process
//     (test::ThreadWorld, tests/support/thread_group.h), against batch_norm of the whole batch on
//     the CPU: output, running statistics, input gradient, and the ranks' parameter gradient
//     shares summed; the layer also with its ReLU and in evaluation.
// Tolerances are those of "cuda parity: batch norm, our kernels" (test_cuda_parity.cpp).
#include <catch2/catch.hpp>

#include <stdexcept>
#include <vector>

#include "minidl/config.h"
#include "minidl/core/distributed.h"
#include "support.h"
#include "thread_group.h"

#if MINIDL_WITH_CUDA

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "minidl/core/distributed.h"
#include "minidl/core/ops.h"
#include "minidl/core/rng.h"
#include "minidl/kernels/runtime.h"
#include "minidl/kernels/sync_batch_norm.h"
#include "minidl/layers/batch_norm.h"
#include "thread_group.h"

using namespace minidl;
using Catch::Matchers::Contains;

namespace {

namespace k = minidl::kernels;
namespace cpu = minidl::kernels::cpu;
namespace kc = minidl::kernels::cuda;
constexpr cpu::Stream cpu_stream;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
using test::random_vector;

double dot_atol(std::int64_t length) { return 1e-5 + 2e-7 * double(length); }

void require_close(const std::vector<double>& got, const std::vector<double>& want, double atol, double rtol,
                   const std::string& what) {
  test::require_close(got, want, atol, rtol, "[cuda parity] " + what);
}
template <typename T, typename U>
void require_close(const std::vector<T>& got, const std::vector<U>& want, double atol, double rtol,
                   const std::string& what) {
  require_close(std::vector<double>(got.begin(), got.end()), std::vector<double>(want.begin(), want.end()), atol, rtol,
                what);
}

// Device memory for one rank's array, filled from a host vector.
template <typename T>
Tensor device(const std::vector<T>& v) {
  return Tensor::from_vector(v, {static_cast<std::int64_t>(v.size())}).to(Device::cuda());
}
template <typename T>
std::vector<T> host(const Tensor& t) {
  return t.to_vector<T>();
}
template <typename T>
T* ptr(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// The all_reduce of the op, over the ranks' arrays: [from, from + count) of every rank's
// float64 buffer becomes its sum over ranks, in rank order.
void add_over_ranks(std::vector<std::vector<double>>& parts, std::size_t from, std::size_t count) {
  for (std::size_t i = from; i < from + count; ++i) {
    double s = 0;
    for (const auto& p : parts) s += p[i];
    for (auto& p : parts) p[i] = s;
  }
}

// The same on the device buffers: down, added on the host, up (NCCL is not emulated).
void add_over_ranks(std::vector<Tensor>& parts, std::int64_t from, std::int64_t count) {
  std::vector<std::vector<double>> h;
  for (const auto& p : parts) h.push_back(host<double>(p));
  add_over_ranks(h, static_cast<std::size_t>(from), static_cast<std::size_t>(count));
  for (std::size_t r = 0; r < parts.size(); ++r) parts[r].copy_(Tensor::from_vector(h[r], parts[r].shape()));
}

// The kernels of kernels/sync_batch_norm.h on ranks holding images[r] images each, CUDA against CPU.
// x is offset + [-2, 3): a mean far from zero tests the two-pass variance.
void check_kernels(const std::vector<std::int64_t>& images, std::int64_t c, std::int64_t hw, bool affine,
                   bool running, double offset, std::uint32_t seed) {
  std::ostringstream ts;
  ts << "sync_batch_norm kernels, images per rank";
  for (auto n : images) ts << ' ' << n;
  ts << " c=" << c << " hw=" << hw << (affine ? "" : " no affine") << (running ? "" : " no running stats")
     << " offset=" << offset;
  const std::string tag = ts.str();
  INFO(tag);
  kc::set_device(0);
  const kc::Stream stream = kc::stream(0);
  const std::size_t ranks = images.size(), uc = static_cast<std::size_t>(c), nstats = 2 * uc + 1;
  const double eps = 1e-5, momentum = 0.1;
  std::mt19937 gen(seed);
  std::vector<k::BatchNormGeometry> geo;
  std::vector<std::vector<float>> x, dy;
  std::int64_t total_count = 0;
  for (const std::int64_t n : images) {
    geo.push_back({n, c, hw});
    x.push_back(random_vector<float>(static_cast<std::size_t>(n * c * hw), gen, offset - 2, offset + 3));
    dy.push_back(random_vector<float>(static_cast<std::size_t>(n * c * hw), gen));
    total_count += n * hw;
  }
  const auto gamma = random_vector<float>(uc, gen, 0.5, 1.5), beta = random_vector<float>(uc, gen);
  const auto rm0 = random_vector<float>(uc, gen), rv0 = random_vector<float>(uc, gen, 0.5, 2.0);
  const float* gp = affine ? gamma.data() : nullptr;
  const float* bp = affine ? beta.data() : nullptr;
  const Tensor dgamma_in = device(gamma), dbeta_in = device(beta);
  const Tensor dgp = affine ? dgamma_in : Tensor(), dbp = affine ? dbeta_in : Tensor();
  std::vector<Tensor> dx_in, ddy;
  for (std::size_t r = 0; r < ranks; ++r) dx_in.push_back(device(x[r])), ddy.push_back(device(dy[r]));

  // Forward statistics: count and sums, all-reduced, then the squared deviations, all-reduced.
  std::vector<std::vector<double>> stats(ranks, std::vector<double>(nstats, 0.0));
  std::vector<Tensor> gstats;
  for (std::size_t r = 0; r < ranks; ++r) {
    cpu::batch_norm_sums<float>(cpu_stream, geo[r], x[r].data(), stats[r].data());
    gstats.push_back(device(std::vector<double>(nstats, std::numeric_limits<double>::quiet_NaN())));
    kc::batch_norm_sums<float>(stream, geo[r], ptr<float>(dx_in[r]), ptr<double>(gstats[r]));
    // Only the count and the sums are written: the squared deviations are still NaN.
    const auto got = host<double>(gstats[r]);
    require_close(std::vector<double>(got.begin(), got.begin() + c + 1),
                  std::vector<double>(stats[r].begin(), stats[r].begin() + c + 1), 1e-9, 1e-12,
                  tag + " rank " + std::to_string(r) + " count and sums");
  }
  add_over_ranks(stats, 0, uc + 1);
  add_over_ranks(gstats, 0, c + 1);
  for (std::size_t r = 0; r < ranks; ++r) {
    cpu::batch_norm_sq_dev<float>(cpu_stream, geo[r], x[r].data(), stats[r].data());
    kc::batch_norm_sq_dev<float>(stream, geo[r], ptr<float>(dx_in[r]), ptr<double>(gstats[r]));
    require_close(host<double>(gstats[r]), stats[r], 1e-9, 1e-12, tag + " rank " + std::to_string(r) + " stats");
  }
  add_over_ranks(stats, uc + 1, uc);
  add_over_ranks(gstats, c + 1, c);
  REQUIRE(stats[0][0] == double(total_count));

  // y, the saved statistics and the running ones (each rank updates its own copy, all alike).
  std::vector<std::vector<float>> mean(ranks), invstd(ranks);
  for (std::size_t r = 0; r < ranks; ++r) {
    const std::size_t nx = x[r].size();
    const std::string rt = tag + " rank " + std::to_string(r);
    std::vector<float> y(nx), rm = rm0, rv = rv0;
    mean[r].resize(uc), invstd[r].resize(uc);
    cpu::batch_norm_apply_stats<float>(cpu_stream, geo[r], x[r].data(), gp, bp, stats[r].data(), eps, momentum,
                                       running ? rm.data() : nullptr, running ? rv.data() : nullptr, y.data(),
                                       mean[r].data(), invstd[r].data());
    const Tensor gy = device(std::vector<float>(nx, kNaN)), gm = device(std::vector<float>(uc, kNaN)),
                 gi = device(std::vector<float>(uc, kNaN)), grm = device(rm0), grv = device(rv0);
    kc::batch_norm_apply_stats<float>(stream, geo[r], ptr<float>(dx_in[r]), ptr<float>(dgp), ptr<float>(dbp),
                                      ptr<double>(gstats[r]), eps, momentum, running ? ptr<float>(grm) : nullptr,
                                      running ? ptr<float>(grv) : nullptr, ptr<float>(gy), ptr<float>(gm),
                                      ptr<float>(gi));
    require_close(host<float>(gy), y, 1e-5, 1e-5, rt + " y");
    require_close(host<float>(gm), mean[r], 1e-6, 1e-5, rt + " saved mean");
    require_close(host<float>(gi), invstd[r], 1e-6, 1e-5, rt + " saved invstd");
    require_close(host<float>(grm), rm, 1e-6, 1e-5, rt + " running mean");
    require_close(host<float>(grv), rv, 1e-6, 1e-5, rt + " running var");
  }

  // Backward: the local sums (from the CPU's saved statistics on both sides, so that the kernels
  // see the same inputs), all-reduced into the global ones, then dx and the parameter shares.
  std::vector<std::vector<double>> local(ranks, std::vector<double>(2 * uc, 0.0));
  std::vector<Tensor> glocal, gglobal, gmean, ginvstd;
  for (std::size_t r = 0; r < ranks; ++r) {
    cpu::batch_norm_grad_sums<float>(cpu_stream, geo[r], dy[r].data(), x[r].data(), mean[r].data(), local[r].data());
    gmean.push_back(device(mean[r]));
    ginvstd.push_back(device(invstd[r]));
    glocal.push_back(device(std::vector<double>(2 * uc, std::numeric_limits<double>::quiet_NaN())));
    kc::batch_norm_grad_sums<float>(stream, geo[r], ptr<float>(ddy[r]), ptr<float>(dx_in[r]), ptr<float>(gmean[r]),
                                    ptr<double>(glocal[r]));
    require_close(host<double>(glocal[r]), local[r], 1e-9, 1e-10, tag + " rank " + std::to_string(r) + " grad sums");
    gglobal.push_back(Tensor::empty({2 * c}, DType::Float64, Device::cuda()));
    gglobal[r].copy_(glocal[r]);
  }
  std::vector<std::vector<double>> global = local;
  add_over_ranks(global, 0, 2 * uc);
  add_over_ranks(gglobal, 0, 2 * c);
  for (std::size_t r = 0; r < ranks; ++r) {
    const std::size_t nx = x[r].size();
    const std::int64_t count = geo[r].n * hw;
    const std::string rt = tag + " rank " + std::to_string(r);
    for (const bool acc : {false, true}) {
      const std::string how = acc ? " accumulate" : " overwrite";
      const auto dx_prior = random_vector<float>(nx, gen), dg_prior = random_vector<float>(uc, gen),
                 db_prior = random_vector<float>(uc, gen);
      std::vector<float> dx = acc ? dx_prior : std::vector<float>(nx, kNaN);
      std::vector<float> dg = acc ? dg_prior : std::vector<float>(uc, kNaN);
      std::vector<float> db = acc ? db_prior : std::vector<float>(uc, kNaN);
      cpu::batch_norm_grad_apply<float>(cpu_stream, geo[r], dy[r].data(), x[r].data(), gp, mean[r].data(),
                                        invstd[r].data(), local[r].data(), global[r].data(), stats[r].data(),
                                        dx.data(), acc, dg.data(), db.data(), acc);
      const Tensor gdx = device(acc ? dx_prior : std::vector<float>(nx, kNaN));
      const Tensor gdg = device(acc ? dg_prior : std::vector<float>(uc, kNaN));
      const Tensor gdb = device(acc ? db_prior : std::vector<float>(uc, kNaN));
      kc::batch_norm_grad_apply<float>(stream, geo[r], ptr<float>(ddy[r]), ptr<float>(dx_in[r]), ptr<float>(dgp),
                                       ptr<float>(gmean[r]), ptr<float>(ginvstd[r]), ptr<double>(glocal[r]),
                                       ptr<double>(gglobal[r]), ptr<double>(gstats[r]), ptr<float>(gdx), acc,
                                       ptr<float>(gdg), ptr<float>(gdb), acc);
      require_close(host<float>(gdx), dx, 2e-5, 1e-4, rt + " backward dx" + how);
      require_close(host<float>(gdg), dg, dot_atol(count), 1e-5, rt + " backward dgamma" + how);
      require_close(host<float>(gdb), db, dot_atol(count), 1e-5, rt + " backward dbeta" + how);
    }
    // Only some gradients wanted: the others are null and must not be touched.
    std::vector<float> dx_only(nx, kNaN), dg_only(uc, kNaN);
    cpu::batch_norm_grad_apply<float>(cpu_stream, geo[r], dy[r].data(), x[r].data(), gp, mean[r].data(),
                                      invstd[r].data(), local[r].data(), global[r].data(), stats[r].data(),
                                      dx_only.data(), false, nullptr, nullptr, false);
    cpu::batch_norm_grad_apply<float>(cpu_stream, geo[r], dy[r].data(), x[r].data(), gp, mean[r].data(),
                                      invstd[r].data(), local[r].data(), global[r].data(), stats[r].data(), nullptr,
                                      false, dg_only.data(), nullptr, false);
    const Tensor gdx = device(std::vector<float>(nx, kNaN)), gdg = device(std::vector<float>(uc, kNaN));
    kc::batch_norm_grad_apply<float>(stream, geo[r], ptr<float>(ddy[r]), ptr<float>(dx_in[r]), ptr<float>(dgp),
                                     ptr<float>(gmean[r]), ptr<float>(ginvstd[r]), ptr<double>(glocal[r]),
                                     ptr<double>(gglobal[r]), ptr<double>(gstats[r]), ptr<float>(gdx), false, nullptr,
                                     nullptr, false);
    kc::batch_norm_grad_apply<float>(stream, geo[r], ptr<float>(ddy[r]), ptr<float>(dx_in[r]), ptr<float>(dgp),
                                     ptr<float>(gmean[r]), ptr<float>(ginvstd[r]), ptr<double>(glocal[r]),
                                     ptr<double>(gglobal[r]), ptr<double>(gstats[r]), nullptr, false, ptr<float>(gdg),
                                     nullptr, false);
    require_close(host<float>(gdx), dx_only, 2e-5, 1e-4, rt + " backward dx only");
    require_close(host<float>(gdg), dg_only, dot_atol(count), 1e-5, rt + " backward dgamma only");
  }
}

std::vector<float> floats(const Tensor& t) { return t.to(Device::cpu()).to_vector<float>(); }

// Whole-batch batch norm on the CPU with autograd: the reference for the ranks' results.
struct WholeBatch {
  Tensor y, running_mean, running_var, dx, dweight, dbias;
};

WholeBatch whole_batch(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& rm0,
                       const Tensor& rv0, const Tensor& dy) {
  WholeBatch r;
  Tensor xr = x.clone().requires_grad_();
  Tensor wr = weight.defined() ? weight.clone().requires_grad_() : Tensor();
  Tensor br = bias.defined() ? bias.clone().requires_grad_() : Tensor();
  r.running_mean = rm0.defined() ? rm0.clone() : Tensor();
  r.running_var = rv0.defined() ? rv0.clone() : Tensor();
  r.y = batch_norm(xr, r.running_mean, r.running_var, wr, br, true, 0.1, 1e-5);
  r.y.backward(dy);
  r.dx = xr.grad();
  if (wr.defined()) r.dweight = wr.grad(), r.dbias = br.grad();
  return r;
}

// sync_batch_norm on ranks holding images[r] images of x each, on CUDA tensors, against
// batch_norm of all of x on the CPU.
void check_op(const std::vector<std::int64_t>& images, const Shape& item, bool affine, bool running,
              std::uint64_t seed) {
  std::ostringstream ts;
  ts << "sync_batch_norm op, images per rank";
  for (auto n : images) ts << ' ' << n;
  ts << " item " << shape_str(item) << (affine ? "" : " no affine") << (running ? "" : " no running stats");
  const std::string tag = ts.str();
  INFO(tag);
  const int ranks = static_cast<int>(images.size());
  std::int64_t total = 0;
  for (auto n : images) total += n;
  Shape shape{total};
  shape.insert(shape.end(), item.begin(), item.end());
  const std::int64_t c = item[0];
  Generator gen(seed);
  const Tensor x = Tensor::uniform(shape, 2.0, 5.0, gen), dy = Tensor::randn(shape, gen);
  const Tensor weight = affine ? Tensor::uniform({c}, 0.5, 1.5, gen) : Tensor();
  const Tensor bias = affine ? Tensor::randn({c}, gen) : Tensor();
  const Tensor rm0 = running ? Tensor::randn({c}, gen) : Tensor();
  const Tensor rv0 = running ? Tensor::uniform({c}, 0.5, 2.0, gen) : Tensor();
  const WholeBatch want = whole_batch(x, weight, bias, rm0, rv0, dy);

  test::ThreadWorld world(ranks);
  std::vector<Tensor> xs(ranks), ws(ranks), bs(ranks), rms(ranks), rvs(ranks), ys(ranks);
  std::int64_t at = 0;
  auto on_gpu = [](const Tensor& t) { return t.defined() ? t.to(Device::cuda()) : Tensor(); };
  for (int r = 0; r < ranks; ++r) {
    xs[r] = x.narrow0(at, images[r]).to(Device::cuda()).requires_grad_();
    ws[r] = affine ? on_gpu(weight).requires_grad_() : Tensor();
    bs[r] = affine ? on_gpu(bias).requires_grad_() : Tensor();
    rms[r] = on_gpu(rm0), rvs[r] = on_gpu(rv0);
    at += images[r];
  }
  world.run([&](int r) {
    std::int64_t from = 0;
    for (int q = 0; q < r; ++q) from += images[q];
    ys[r] = sync_batch_norm(xs[r], rms[r], rvs[r], ws[r], bs[r], world.group(r), 0.1, 1e-5);
    ys[r].backward(dy.narrow0(from, images[r]).to(Device::cuda()));
  });

  std::vector<Tensor> dxs;
  for (int r = 0; r < ranks; ++r) dxs.push_back(xs[r].grad());
  require_close(floats(cat(ys)), floats(want.y), 1e-5, 1e-5, tag + " y");
  require_close(floats(cat(dxs)), floats(want.dx), 2e-5, 1e-4, tag + " dx");
  const std::int64_t count = x.numel() / c;
  for (int r = 0; r < ranks; ++r) {
    const std::string rt = tag + " rank " + std::to_string(r);
    if (running) {
      require_close(floats(rms[r]), floats(want.running_mean), 1e-6, 1e-5, rt + " running mean");
      require_close(floats(rvs[r]), floats(want.running_var), 1e-6, 1e-5, rt + " running var (unbiased, global)");
    }
  }
  if (affine) {
    // Each rank's parameter gradient is its share; data-parallel training sums them.
    std::vector<double> dw(static_cast<std::size_t>(c), 0.0), db(static_cast<std::size_t>(c), 0.0);
    for (int r = 0; r < ranks; ++r) {
      const auto w = floats(ws[r].grad()), b = floats(bs[r].grad());
      for (std::size_t i = 0; i < dw.size(); ++i) dw[i] += w[i], db[i] += b[i];
    }
    require_close(dw, floats(want.dweight), dot_atol(count), 1e-5, tag + " dweight summed over ranks");
    require_close(db, floats(want.dbias), dot_atol(count), 1e-5, tag + " dbias summed over ranks");
  }
}

}  // namespace

TEST_CASE("cuda parity: sync batch norm kernels on each rank's part of a batch, sums added between ranks",
          "[cuda][sync_batch_norm]") {
  if (test::no_gpu()) return;
  std::uint32_t seed = 31;
  // 2 equal ranks; more values per channel and rank than a block's 512 threads; uneven ranks
  // (3 and 5 images) whose counts only add up over the reduction; 3 ranks, one of them empty; 2-d [n, c].
  for (const bool affine : {true, false}) {
    check_kernels({2, 2}, 5, 7, affine, true, 0.0, seed++);
    check_kernels({4, 4}, 16, 200, affine, !affine, 0.0, seed++);
    check_kernels({3, 5}, 8, 33, affine, true, 50.0, seed++);
  }
  check_kernels({2, 0, 3}, 4, 9, true, true, 0.0, seed++);
  check_kernels({6, 7}, 12, 1, true, true, 0.0, seed++);
}

TEST_CASE("cuda parity: the sync batch norm kernels have no fused ReLU, and both twins refuse BatchNormGeometry::relu",
          "[cuda][sync_batch_norm]") {
  if (test::no_gpu()) return;
  // The op never sets it (BatchNorm2d applies its ReLU after sync_batch_norm); a caller that did
  // would get a ReLU from the CPU forward only, and a backward without the mask on both.
  const k::BatchNormGeometry g{2, 3, 4, true};
  std::mt19937 gen(5);
  const std::vector<float> x = random_vector<float>(24, gen);
  std::vector<double> stats(7, 0.0), sums(6, 1.0);
  std::vector<float> y(24), mean(3, 0.f), invstd(3, 1.f), dx(24);
  cpu::batch_norm_sums<float>(cpu_stream, g, x.data(), stats.data());
  cpu::batch_norm_sq_dev<float>(cpu_stream, g, x.data(), stats.data());
  const Tensor gx = device(x), gstats = device(stats), gsums = device(sums), gy = device(y), gm = device(mean),
               gi = device(invstd), gdx = device(dx);
  const auto no_relu = Contains("sync batch norm kernels have no fused ReLU");
  CHECK_THROWS_WITH(cpu::batch_norm_apply_stats<float>(cpu_stream, g, x.data(), nullptr, nullptr, stats.data(), 1e-5,
                                                       0.1, nullptr, nullptr, y.data(), mean.data(), invstd.data()),
                    no_relu);
  CHECK_THROWS_WITH(kc::batch_norm_apply_stats<float>(kc::stream(0), g, ptr<float>(gx), nullptr, nullptr,
                                                      ptr<double>(gstats), 1e-5, 0.1, nullptr, nullptr, ptr<float>(gy),
                                                      ptr<float>(gm), ptr<float>(gi)),
                    no_relu);
  CHECK_THROWS_WITH(cpu::batch_norm_grad_sums<float>(cpu_stream, g, x.data(), x.data(), mean.data(), sums.data()),
                    no_relu);
  CHECK_THROWS_WITH(kc::batch_norm_grad_sums<float>(kc::stream(0), g, ptr<float>(gx), ptr<float>(gx), ptr<float>(gm),
                                                    ptr<double>(gsums)),
                    no_relu);
  CHECK_THROWS_WITH(cpu::batch_norm_grad_apply<float>(cpu_stream, g, x.data(), x.data(), nullptr, mean.data(),
                                                      invstd.data(), sums.data(), sums.data(), stats.data(), dx.data(),
                                                      false, nullptr, nullptr, false),
                    no_relu);
  CHECK_THROWS_WITH(kc::batch_norm_grad_apply<float>(kc::stream(0), g, ptr<float>(gx), ptr<float>(gx), nullptr,
                                                     ptr<float>(gm), ptr<float>(gi), ptr<double>(gsums),
                                                     ptr<double>(gsums), ptr<double>(gstats), ptr<float>(gdx), false,
                                                     nullptr, nullptr, false),
                    no_relu);
}

TEST_CASE("cuda: sync_batch_norm on 2 ranks (threads) equals batch_norm of the whole batch on the CPU in output, "
          "running statistics and every gradient",
          "[cuda][sync_batch_norm]") {
  if (test::no_gpu()) return;
  std::uint64_t seed = 41;
  for (const bool affine : {true, false}) {
    check_op({3, 3}, {4, 5, 3}, affine, true, seed++);
    check_op({2, 5}, {6, 4, 4}, affine, !affine, seed++);
  }
  check_op({5, 4}, {7}, true, true, seed++);  // [n, c]
}

TEST_CASE("cuda: BatchNorm2d with a sync_group of 2 ranks (threads): training with its ReLU, then evaluation, as one "
          "BatchNorm2d over the whole batch on the CPU",
          "[cuda][sync_batch_norm]") {
  if (test::no_gpu()) return;
  const std::int64_t c = 6;
  const std::vector<std::int64_t> images{3, 4};
  Generator gen(51);
  const Tensor x = Tensor::uniform({7, c, 5, 5}, -1.0, 3.0, gen), dy = Tensor::randn({7, c, 5, 5}, gen);
  const Tensor x_eval = Tensor::uniform({7, c, 5, 5}, -1.0, 3.0, gen);
  BatchNorm2d ref(c);
  ref.weight.copy_(Tensor::uniform({c}, 0.5, 1.5, gen));
  ref.bias.copy_(Tensor::randn({c}, gen));
  Tensor xr = x.clone().requires_grad_();
  ref.forward_relu(xr).backward(dy);
  ref.eval();
  const Tensor y_eval = ref.forward(x_eval);

  test::ThreadWorld world(2);
  std::vector<std::unique_ptr<BatchNorm2d>> bn;
  std::vector<Tensor> xs, ys, ye(2);
  for (int r = 0; r < 2; ++r) {
    bn.push_back(std::make_unique<BatchNorm2d>(c));
    bn[r]->weight.copy_(ref.weight);
    bn[r]->bias.copy_(ref.bias);
    bn[r]->to(Device::cuda());
    bn[r]->sync_group = &world.group(r);
    xs.push_back(x.narrow0(r == 0 ? 0 : images[0], images[r]).to(Device::cuda()).requires_grad_());
    ys.emplace_back();
  }
  world.run([&](int r) {
    const std::int64_t from = r == 0 ? 0 : images[0];
    ys[r] = bn[r]->forward_relu(xs[r]);
    ys[r].backward(dy.narrow0(from, images[r]).to(Device::cuda()));
    bn[r]->eval();
    ye[r] = bn[r]->forward(x_eval.narrow0(from, images[r]).to(Device::cuda()));
  });
  std::vector<Tensor> dxs{xs[0].grad(), xs[1].grad()};
  const std::int64_t count = 7 * 5 * 5;
  require_close(floats(cat(dxs)), floats(xr.grad()), 2e-5, 1e-4, "BatchNorm2d sync relu dx");
  std::vector<double> dw(c, 0.0), db(c, 0.0);
  for (int r = 0; r < 2; ++r) {
    const std::string rt = "BatchNorm2d sync relu rank " + std::to_string(r);
    require_close(floats(bn[r]->running_mean), floats(ref.running_mean), 1e-6, 1e-5, rt + " running mean");
    require_close(floats(bn[r]->running_var), floats(ref.running_var), 1e-6, 1e-5, rt + " running var");
    CHECK(bn[r]->num_batches_tracked.item() == 1);
    const auto w = floats(bn[r]->weight.grad()), b = floats(bn[r]->bias.grad());
    for (std::int64_t i = 0; i < c; ++i) dw[i] += w[i], db[i] += b[i];
  }
  require_close(dw, floats(ref.weight.grad()), dot_atol(count), 1e-5, "BatchNorm2d sync relu dweight summed");
  require_close(db, floats(ref.bias.grad()), dot_atol(count), 1e-5, "BatchNorm2d sync relu dbias summed");
  // The output through the ReLU: recomputed on the CPU from the same module state.
  std::vector<float> want_y;
  {
    BatchNorm2d again(c);
    again.weight.copy_(ref.weight);
    again.bias.copy_(ref.bias);
    want_y = floats(again.forward_relu(x));
  }
  const auto got_y = floats(cat(ys));
  require_close(got_y, want_y, 1e-5, 1e-5, "BatchNorm2d sync relu y");
  CHECK(*std::min_element(got_y.begin(), got_y.end()) == 0.f);  // the ReLU cut something
  require_close(floats(cat(ye)), floats(y_eval), 1e-5, 1e-5, "BatchNorm2d sync, then eval: y from running statistics");
}

TEST_CASE("cuda: sync_batch_norm in a world of one is batch_norm, and float64 on CUDA is refused by name",
          "[cuda][sync_batch_norm]") {
  if (test::no_gpu()) return;
  auto one = dist::single_process_group();
  Generator gen(61);
  const Tensor x = Tensor::uniform({4, 3, 2, 3}, -1.0, 2.0, gen);
  const Tensor w = Tensor::uniform({3}, 0.5, 1.5, gen), b = Tensor::randn({3}, gen);
  Tensor rm = Tensor::zeros({3}), rv = Tensor::ones({3});
  const Tensor want = batch_norm(x, rm, rv, w, b, true, 0.1, 1e-5);
  Tensor grm = Tensor::zeros({3}, DType::Float32, Device::cuda()), grv = Tensor::ones({3}, DType::Float32, Device::cuda());
  const Tensor got = sync_batch_norm(x.to(Device::cuda()), grm, grv, w.to(Device::cuda()), b.to(Device::cuda()), *one);
  require_close(floats(got), floats(want), 1e-5, 1e-5, "world of one y");
  require_close(floats(grm), floats(rm), 1e-6, 1e-5, "world of one running mean");
  require_close(floats(grv), floats(rv), 1e-6, 1e-5, "world of one running var");
  // The CUDA kernels are float32 only (kernels/cuda/sync_batch_norm.cu instantiates float); the
  // op says so before any kernel runs.
  const Tensor x64 = x.to(DType::Float64).to(Device::cuda());
  CHECK_THROWS_WITH(sync_batch_norm(x64, Tensor(), Tensor(), Tensor(), Tensor(), *one),
                    Contains("sync_batch_norm: input must be float32 on a GPU (float64 is for the CPU), got float64[4, 3, 2, 3] on cuda"));
}

#else

TEST_CASE("cuda: sync batch norm", "[cuda][sync_batch_norm]") { minidl::test::no_gpu(); }

#endif

// The helper the tests above stand on, on the CPU (every build but the emulated one, which runs
// only [cuda] tests; the CUDA tests above use it there).
TEST_CASE("test::ThreadWorld: collectives sum in rank order, broadcast from a root, and a failing rank releases "
          "the others",
          "[distributed][sync_batch_norm]") {
  using namespace minidl;
  test::ThreadWorld world(3);
  std::vector<Tensor> t(3), avg(3), from2(3);
  world.run([&](int r) {
    t[r] = Tensor::from_vector(std::vector<double>{double(r), 10.0 * r + 1}, {2});
    world.group(r).all_reduce(t[r]);
    avg[r] = Tensor::full({1}, 3.0 * r, DType::Float32);
    world.group(r).all_reduce(avg[r], dist::ReduceOp::Average);
    world.group(r).barrier();
    from2[r] = Tensor::full({2}, double(r), DType::Int64);
    world.group(r).broadcast(from2[r], 2);
  });
  for (int r = 0; r < 3; ++r) {
    CHECK(t[r].to_vector<double>() == std::vector<double>{3.0, 33.0});
    CHECK(avg[r].to_vector<float>() == std::vector<float>{3.f});
    CHECK(from2[r].to_vector<std::int64_t>() == std::vector<std::int64_t>{2, 2});
  }
  // Rank 1 fails before its collective: ranks 0 and 2 must not wait forever, and run() reports
  // rank 1's own error, not theirs.
  CHECK_THROWS_WITH(world.run([&](int r) {
    if (r == 1) throw std::runtime_error("rank 1's bad input");
    world.group(r).all_reduce(Tensor::zeros({2}));
  }),
                    Catch::Matchers::Contains("rank 1's bad input"));
  // Different shapes on different ranks: the collective fails on every rank, by shape.
  CHECK_THROWS_WITH(world.run([&](int r) { world.group(r).all_reduce(Tensor::zeros({r == 2 ? 3 : 2})); }),
                    Catch::Matchers::Contains("rank 2 passed float32[3]"));
  // The world works again after a failed run.
  world.run([&](int r) { world.group(r).barrier(); });
}
