// cuDNN descriptors as RAII objects, and the per-shape plans the context caches: for each
// convolution shape its tensor/filter/convolution descriptors and the algorithm chosen once
// (cudnnFind*AlgorithmEx) for each direction; for each batch-norm shape its two descriptors.
// cuDNN builds only.
//
// cuDNN 9 marks this whole "legacy" API (descriptors, cudnnConvolution*, cudnnBatchNormalization*)
// deprecated in favour of the graph API, but ships and supports it; its deprecation attributes
// are only switched on by CUDNN_WARN_DEPRECATED, which we leave undefined.
#pragma once

#include "minidl/config.h"

#if MINIDL_WITH_CUDNN

#include <cudnn.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>

#include "minidl/kernels/conv2d.h"
#include "minidl/kernels/cuda/check.h"

namespace minidl::kernels::cuda::detail {

template <typename T, cudnnStatus_t (*Create)(T*), cudnnStatus_t (*Destroy)(T)>
class CudnnDescriptor {
 public:
  CudnnDescriptor() { CUDNN_CHECK(Create(&desc_)); }
  ~CudnnDescriptor() { Destroy(desc_); }  // no throw from a destructor; nothing useful to do on failure
  CudnnDescriptor(const CudnnDescriptor&) = delete;
  CudnnDescriptor& operator=(const CudnnDescriptor&) = delete;
  T get() const { return desc_; }

 private:
  T desc_{};
};

using TensorDescriptor =
    CudnnDescriptor<cudnnTensorDescriptor_t, cudnnCreateTensorDescriptor, cudnnDestroyTensorDescriptor>;
using FilterDescriptor =
    CudnnDescriptor<cudnnFilterDescriptor_t, cudnnCreateFilterDescriptor, cudnnDestroyFilterDescriptor>;
using ConvolutionDescriptor =
    CudnnDescriptor<cudnnConvolutionDescriptor_t, cudnnCreateConvolutionDescriptor, cudnnDestroyConvolutionDescriptor>;

// A shape plus the numerics it was planned under: flipping allow_tf32 or deterministic at run
// time plans the shape again instead of reusing an algorithm chosen under the other rules; bf16
// plans (channels-last bf16 tensors) are separate plans of the same shape.
struct ConvKey {
  kernels::Conv2dGeometry::ShapeKey v;  // the geometry: sizes, stride, padding, dilation, groups
  bool tf32, deterministic, bf16;
  bool operator==(const ConvKey& o) const {
    return v == o.v && tf32 == o.tf32 && deterministic == o.deterministic && bf16 == o.bf16;
  }
};

struct ConvKeyHash {
  std::size_t operator()(const ConvKey& k) const {
    std::size_t h = (k.tf32 ? 1u : 0u) | (k.deterministic ? 2u : 0u) | (k.bf16 ? 4u : 0u);
    for (std::int64_t x : k.v) h = h * 1000003u ^ std::hash<std::int64_t>()(x);
    return h;
  }
};

// One direction of a plan: its own convolution descriptor (which carries the math type of its
// algorithm), and the algorithm once found, with the workspace it needs.
template <typename Algo>
struct ConvDirectionPlan {
  ConvolutionDescriptor conv;
  bool found = false;
  Algo algo{};
  std::size_t workspace = 0;
};

struct ConvPlan {
  TensorDescriptor x, y;
  FilterDescriptor w;
  ConvDirectionPlan<cudnnConvolutionFwdAlgo_t> fwd;
  ConvDirectionPlan<cudnnConvolutionBwdDataAlgo_t> bwd_data;
  ConvDirectionPlan<cudnnConvolutionBwdFilterAlgo_t> bwd_filter;
};

struct BatchNormKey {
  std::int64_t n, c, hw;
  bool operator==(const BatchNormKey& o) const { return n == o.n && c == o.c && hw == o.hw; }
};

struct BatchNormKeyHash {
  std::size_t operator()(const BatchNormKey& k) const {
    return (std::hash<std::int64_t>()(k.n) * 1000003u ^ std::hash<std::int64_t>()(k.c)) * 1000003u ^
           std::hash<std::int64_t>()(k.hw);
  }
};

struct BatchNormPlan {
  TensorDescriptor x, param;
};

struct CudnnCache {
  std::unordered_map<ConvKey, std::unique_ptr<ConvPlan>, ConvKeyHash> conv;
  std::unordered_map<BatchNormKey, std::unique_ptr<BatchNormPlan>, BatchNormKeyHash> batch_norm;
};

}  // namespace minidl::kernels::cuda::detail

#endif  // MINIDL_WITH_CUDNN
