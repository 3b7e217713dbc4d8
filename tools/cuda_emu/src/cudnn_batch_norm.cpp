// The emulated cuDNN's batch normalization (include/cudnn.h): CUDNN_BATCHNORM_SPATIAL (and
// SPATIAL_PERSISTENT, the same arithmetic) over x of FLOAT, DOUBLE or BFLOAT16 data in NCHW or
// NHWC, with the per-channel parameters of cudnnDeriveBNTensorDescriptor (FLOAT, or DOUBLE for
// DOUBLE data). The statistics are summed in double and rounded once: nearer the exact values
// than cuDNN's float reductions, which the parity tests' tolerances must allow for anyway.
#include <cmath>
#include <vector>

#include "cudnn_internal.h"

using emu::str;
using emu::dnn::fail;
using emu::dnn::View;

namespace {

// A checked call: x (and y / dy / dx, same shape), the parameter layout and the scalars' type.
struct Bn {
  View x;                     // sizes and strides of x (the other data operands share them)
  cudnnDataType_t data{};     // of x, y, dy, dx
  cudnnDataType_t param{};    // of scale, bias, means, variances
  std::int64_t m = 0;         // elements per channel: n h w
  bool dbl = false;           // DOUBLE data: double scalars
  std::size_t data_bytes() const { return x.bytes(); }
  std::size_t param_bytes() const { return std::size_t(x.d[1]) * emu::dnn::element_bytes(param); }
};

cudnnDataType_t param_type(cudnnDataType_t data) {
  return data == CUDNN_DATA_DOUBLE ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
}

cudnnStatus_t check_mode(const char* fn, cudnnBatchNormMode_t mode) {
  if (mode == CUDNN_BATCHNORM_SPATIAL || mode == CUDNN_BATCHNORM_SPATIAL_PERSISTENT) return CUDNN_STATUS_SUCCESS;
  if (mode == CUDNN_BATCHNORM_PER_ACTIVATION)
    return fail(CUDNN_STATUS_NOT_SUPPORTED, str("%s: CUDNN_BATCHNORM_PER_ACTIVATION is not modelled by the emulator", fn));
  return fail(CUDNN_STATUS_BAD_PARAM, str("%s: %d is not a cudnnBatchNormMode_t", fn, int(mode)));
}

// x and every other data descriptor (y, dy, dx) the same shape and type, the parameter
// descriptor [1, C, 1, 1] of the derived type, epsilon >= CUDNN_BN_MIN_EPSILON.
cudnnStatus_t check_bn(const char* fn, cudnnHandle_t h, cudnnBatchNormMode_t mode, const cudnnTensorStruct* x,
                       std::initializer_list<const cudnnTensorStruct*> others, const cudnnTensorStruct* p,
                       double eps, Bn* out) {
  if (!h) return fail(CUDNN_STATUS_BAD_PARAM, str("%s: handle is null", fn));
  if (const cudnnStatus_t s = check_mode(fn, mode)) return s;
  if (!x || !x->set || !p || !p->set) return fail(CUDNN_STATUS_BAD_PARAM, str("%s: a descriptor is null or not set", fn));
  for (const cudnnTensorStruct* o : others) {
    if (!o || !o->set) return fail(CUDNN_STATUS_BAD_PARAM, str("%s: a descriptor is null or not set", fn));
    if (o->n != x->n || o->c != x->c || o->h != x->h || o->w != x->w || o->type != x->type)
      return fail(CUDNN_STATUS_BAD_PARAM, str("%s: %s does not match x %s", fn, emu::dnn::describe(*o).c_str(),
                                              emu::dnn::describe(*x).c_str()));
  }
  if (p->n != 1 || p->c != x->c || p->h != 1 || p->w != 1 || p->type != param_type(x->type))
    return fail(CUDNN_STATUS_BAD_PARAM,
                str("%s: the parameter descriptor is %s; for x %s it must be %s [1, %d, 1, 1] "
                    "(cudnnDeriveBNTensorDescriptor)",
                    fn, emu::dnn::describe(*p).c_str(), emu::dnn::describe(*x).c_str(),
                    emu::dnn::type_name(param_type(x->type)), x->c));
  if (!(eps >= CUDNN_BN_MIN_EPSILON))
    return fail(CUDNN_STATUS_BAD_PARAM, str("%s: epsilon %g is below CUDNN_BN_MIN_EPSILON (%g)", fn, eps,
                                            double(CUDNN_BN_MIN_EPSILON)));
  out->x = emu::dnn::view_of(*x, nullptr);
  out->data = x->type;
  out->param = p->type;
  out->m = std::int64_t(x->n) * x->h * x->w;
  out->dbl = x->type == CUDNN_DATA_DOUBLE;
  return CUDNN_STATUS_SUCCESS;
}

double scalar(const Bn& b, const void* p) {
  return b.dbl ? *static_cast<const double*>(p) : double(*static_cast<const float*>(p));
}

// out = alpha * v + beta * out (out not read when beta == 0), in the operand's precision.
void blend(void* p, cudnnDataType_t t, std::size_t i, double v, double alpha, double beta) {
  if (t == CUDNN_DATA_DOUBLE)
    emu::dnn::blend<double>(p, t, i, v, alpha, beta);
  else
    emu::dnn::blend<float>(p, t, i, float(v), float(alpha), float(beta));
}

// Calls f(i) for the index of every element of channel c.
template <typename F>
void each_in_channel(const View& x, std::int64_t c, F&& f) {
  for (std::int64_t n = 0; n < x.d[0]; ++n)
    for (std::int64_t h = 0; h < x.d[2]; ++h)
      for (std::int64_t w = 0; w < x.d[3]; ++w) f(x.at(n, c, h, w));
}

// Checks every named operand is device memory; then queues `run` with the accesses.
cudnnStatus_t queue(const char* fn, cudnnHandle_t h, const std::vector<std::pair<const char*, emu::Access>>& ops,
                    std::function<void()> run) {
  std::lock_guard<std::recursive_mutex> lock(emu::api_mutex());
  if (emu::sticky_error()) return fail(CUDNN_STATUS_EXECUTION_FAILED, str("%s: an earlier device error", fn));
  std::vector<emu::Access> acc;
  for (const auto& [name, a] : ops) {
    if (!a.ptr) continue;
    if (!emu::dnn::operand_ok(fn, name, a.ptr, a.bytes)) return CUDNN_STATUS_EXECUTION_FAILED;
    acc.push_back(a);
  }
  const cudaError_t r = emu::enqueue(h->stream, fn, std::move(acc), {}, [run]() {
    run();
    return cudaSuccess;
  });
  if (r != cudaSuccess) return fail(CUDNN_STATUS_EXECUTION_FAILED, str("%s: %s", fn, cudaGetErrorString(r)));
  return CUDNN_STATUS_SUCCESS;
}

// Channel c's mean and biased variance over n, h, w (two passes, in double).
void stats(const View& x, std::int64_t c, std::int64_t m, double* mean, double* var) {
  double s = 0;
  each_in_channel(x, c, [&](std::size_t i) { s += emu::dnn::load<double>(x.ptr, x.type, i); });
  *mean = s / double(m);
  double q = 0;
  each_in_channel(x, c, [&](std::size_t i) {
    const double d = emu::dnn::load<double>(x.ptr, x.type, i) - *mean;
    q += d * d;
  });
  *var = q / double(m);
}

}  // namespace

cudnnStatus_t cudnnDeriveBNTensorDescriptor(cudnnTensorDescriptor_t derived, const cudnnTensorDescriptor_t x,
                                            cudnnBatchNormMode_t mode) {
  const char* fn = "cudnnDeriveBNTensorDescriptor";
  if (!derived || !x || !x->set) return fail(CUDNN_STATUS_BAD_PARAM, str("%s: a descriptor is null or not set", fn));
  if (const cudnnStatus_t s = check_mode(fn, mode)) return s;
  *derived = cudnnTensorStruct{true, CUDNN_TENSOR_NCHW, param_type(x->type), 1, x->c, 1, 1};
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnBatchNormalizationForwardTraining(
    cudnnHandle_t h, cudnnBatchNormMode_t mode, const void* alpha, const void* beta, const cudnnTensorDescriptor_t xd,
    const void* x, const cudnnTensorDescriptor_t yd, void* y, const cudnnTensorDescriptor_t pd, const void* scale,
    const void* bias, double factor, void* running_mean, void* running_var, double eps, void* save_mean,
    void* save_invvar) {
  const char* fn = "cudnnBatchNormalizationForwardTraining";
  Bn b;
  if (const cudnnStatus_t s = check_bn(fn, h, mode, xd, {yd}, pd, eps, &b)) return s;
  if (!alpha || !beta || !x || !y || !scale || !bias)
    return fail(CUDNN_STATUS_BAD_PARAM, str("%s: alpha, beta, x, y, bnScale and bnBias must not be null", fn));
  if ((running_mean == nullptr) != (running_var == nullptr))
    return fail(CUDNN_STATUS_BAD_PARAM, str("%s: resultRunningMean and resultRunningVariance are null only together", fn));
  if ((save_mean == nullptr) != (save_invvar == nullptr))
    return fail(CUDNN_STATUS_BAD_PARAM, str("%s: resultSaveMean and resultSaveInvVariance are null only together", fn));
  const double a = scalar(b, alpha), be = scalar(b, beta);
  const std::size_t db = b.data_bytes(), pb = b.param_bytes();
  View xv = b.x;
  xv.ptr = x;
  const cudnnDataType_t pt = b.param;
  return queue(fn, h,
               {{"x", {x, db, false}}, {"y", {y, db, true}}, {"bnScale", {scale, pb, false}},
                {"bnBias", {bias, pb, false}}, {"resultRunningMean", {running_mean, pb, true}},
                {"resultRunningVariance", {running_var, pb, true}}, {"resultSaveMean", {save_mean, pb, true}},
                {"resultSaveInvVariance", {save_invvar, pb, true}}},
               [=]() {
                 const std::int64_t m = b.m;
                 for (std::int64_t c = 0; c < xv.d[1]; ++c) {
                   double mean = 0, var = 0;
                   stats(xv, c, m, &mean, &var);
                   const double invstd = 1.0 / std::sqrt(var + eps);
                   const double g = emu::dnn::load<double>(scale, pt, c), bi = emu::dnn::load<double>(bias, pt, c);
                   each_in_channel(xv, c, [&](std::size_t i) {
                     const double v = g * (emu::dnn::load<double>(x, b.data, i) - mean) * invstd + bi;
                     blend(y, b.data, i, v, a, be);
                   });
                   if (running_mean) {
                     // cuDNN's update: running = (1 - factor) running + factor batch, with the
                     // unbiased variance (m / (m - 1)).
                     const double unbiased = var * double(m) / double(m - 1);
                     const double rm = emu::dnn::load<double>(running_mean, pt, c);
                     const double rv = emu::dnn::load<double>(running_var, pt, c);
                     emu::dnn::store<double>(running_mean, pt, c, (1 - factor) * rm + factor * mean);
                     emu::dnn::store<double>(running_var, pt, c, (1 - factor) * rv + factor * unbiased);
                   }
                   if (save_mean) {
                     emu::dnn::store<double>(save_mean, pt, c, mean);
                     emu::dnn::store<double>(save_invvar, pt, c, invstd);
                   }
                 }
               });
}

cudnnStatus_t cudnnBatchNormalizationForwardInference(cudnnHandle_t h, cudnnBatchNormMode_t mode, const void* alpha,
                                                      const void* beta, const cudnnTensorDescriptor_t xd,
                                                      const void* x, const cudnnTensorDescriptor_t yd, void* y,
                                                      const cudnnTensorDescriptor_t pd, const void* scale,
                                                      const void* bias, const void* est_mean, const void* est_var,
                                                      double eps) {
  const char* fn = "cudnnBatchNormalizationForwardInference";
  Bn b;
  if (const cudnnStatus_t s = check_bn(fn, h, mode, xd, {yd}, pd, eps, &b)) return s;
  if (!alpha || !beta || !x || !y || !scale || !bias || !est_mean || !est_var)
    return fail(CUDNN_STATUS_BAD_PARAM,
                str("%s: alpha, beta, x, y, bnScale, bnBias, estimatedMean and estimatedVariance must not be null", fn));
  const double a = scalar(b, alpha), be = scalar(b, beta);
  const std::size_t db = b.data_bytes(), pb = b.param_bytes();
  View xv = b.x;
  xv.ptr = x;
  const cudnnDataType_t pt = b.param;
  return queue(fn, h,
               {{"x", {x, db, false}}, {"y", {y, db, true}}, {"bnScale", {scale, pb, false}},
                {"bnBias", {bias, pb, false}}, {"estimatedMean", {est_mean, pb, false}},
                {"estimatedVariance", {est_var, pb, false}}},
               [=]() {
                 for (std::int64_t c = 0; c < xv.d[1]; ++c) {
                   const double mean = emu::dnn::load<double>(est_mean, pt, c);
                   const double invstd = 1.0 / std::sqrt(emu::dnn::load<double>(est_var, pt, c) + eps);
                   const double g = emu::dnn::load<double>(scale, pt, c), bi = emu::dnn::load<double>(bias, pt, c);
                   each_in_channel(xv, c, [&](std::size_t i) {
                     blend(y, b.data, i, g * (emu::dnn::load<double>(x, b.data, i) - mean) * invstd + bi, a, be);
                   });
                 }
               });
}

cudnnStatus_t cudnnBatchNormalizationBackward(cudnnHandle_t h, cudnnBatchNormMode_t mode, const void* alpha_data,
                                              const void* beta_data, const void* alpha_param, const void* beta_param,
                                              const cudnnTensorDescriptor_t xd, const void* x,
                                              const cudnnTensorDescriptor_t dyd, const void* dy,
                                              const cudnnTensorDescriptor_t dxd, void* dx,
                                              const cudnnTensorDescriptor_t pd, const void* scale, void* dscale,
                                              void* dbias, double eps, const void* saved_mean,
                                              const void* saved_invvar) {
  const char* fn = "cudnnBatchNormalizationBackward";
  Bn b;
  if (const cudnnStatus_t s = check_bn(fn, h, mode, xd, {dyd, dxd}, pd, eps, &b)) return s;
  if (!alpha_data || !beta_data || !alpha_param || !beta_param || !x || !dy || !dx || !scale || !dscale || !dbias)
    return fail(CUDNN_STATUS_BAD_PARAM,
                str("%s: the scalars, x, dy, dx, bnScale, dBnScaleResult and dBnBiasResult must not be null", fn));
  if ((saved_mean == nullptr) != (saved_invvar == nullptr))
    return fail(CUDNN_STATUS_BAD_PARAM, str("%s: savedMean and savedInvVariance are null only together", fn));
  const double ad = scalar(b, alpha_data), bd = scalar(b, beta_data), ap = scalar(b, alpha_param),
               bp = scalar(b, beta_param);
  const std::size_t db = b.data_bytes(), pb = b.param_bytes();
  View xv = b.x;
  xv.ptr = x;
  const cudnnDataType_t pt = b.param;
  return queue(fn, h,
               {{"x", {x, db, false}}, {"dy", {dy, db, false}}, {"dx", {dx, db, true}},
                {"bnScale", {scale, pb, false}}, {"dBnScaleResult", {dscale, pb, true}},
                {"dBnBiasResult", {dbias, pb, true}}, {"savedMean", {saved_mean, pb, false}},
                {"savedInvVariance", {saved_invvar, pb, false}}},
               [=]() {
                 const std::int64_t m = b.m;
                 for (std::int64_t c = 0; c < xv.d[1]; ++c) {
                   double mean = 0, invstd = 0;
                   if (saved_mean) {  // the forward's statistics, as given
                     mean = emu::dnn::load<double>(saved_mean, pt, c);
                     invstd = emu::dnn::load<double>(saved_invvar, pt, c);
                   } else {  // recomputed from x
                     double var = 0;
                     stats(xv, c, m, &mean, &var);
                     invstd = 1.0 / std::sqrt(var + eps);
                   }
                   double sum_dy = 0, sum_dy_xhat = 0;
                   each_in_channel(xv, c, [&](std::size_t i) {
                     const double g = emu::dnn::load<double>(dy, b.data, i);
                     sum_dy += g;
                     sum_dy_xhat += g * (emu::dnn::load<double>(x, b.data, i) - mean) * invstd;
                   });
                   const double gamma = emu::dnn::load<double>(scale, pt, c);
                   each_in_channel(xv, c, [&](std::size_t i) {
                     const double xhat = (emu::dnn::load<double>(x, b.data, i) - mean) * invstd;
                     const double g = emu::dnn::load<double>(dy, b.data, i);
                     const double v = gamma * invstd * (g - sum_dy / double(m) - xhat * sum_dy_xhat / double(m));
                     blend(dx, b.data, i, v, ad, bd);
                   });
                   blend(dscale, pt, std::size_t(c), sum_dy_xhat, ap, bp);
                   blend(dbias, pt, std::size_t(c), sum_dy, ap, bp);
                 }
               });
}
