// Shared by the emulated cuDNN's sources (cudnn_*.cpp): the descriptors' contents, element
// access by data type, strided 4-d layouts, and the error reporting every entry point uses.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "cudnn.h"
#include "internal.h"

struct cudnnContext {
  cudaStream_t stream = nullptr;
};

struct cudnnTensorStruct {
  bool set = false;
  cudnnTensorFormat_t format = CUDNN_TENSOR_NCHW;
  cudnnDataType_t type = CUDNN_DATA_FLOAT;
  int n = 0, c = 0, h = 0, w = 0;
};

struct cudnnFilterStruct {
  bool set = false;
  cudnnTensorFormat_t format = CUDNN_TENSOR_NCHW;  // NCHW: [k, c, r, s]; NHWC: [k, r, s, c]
  cudnnDataType_t type = CUDNN_DATA_FLOAT;
  int k = 0, c = 0, r = 0, s = 0;
};

struct cudnnConvolutionStruct {
  bool set = false;
  int pad_h = 0, pad_w = 0, stride_h = 1, stride_w = 1, dil_h = 1, dil_w = 1;
  cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  cudnnDataType_t compute = CUDNN_DATA_FLOAT;
  int groups = 1;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
};

namespace emu::dnn {

// Records `message` as this thread's last error (cudnnGetLastErrorString) and returns `status`.
cudnnStatus_t fail(cudnnStatus_t status, const std::string& message);
const std::string& last_error();

std::size_t element_bytes(cudnnDataType_t t);
const char* type_name(cudnnDataType_t t);

// A 4-d operand in device memory: sizes, strides in elements, element type.
struct View {
  const void* ptr = nullptr;
  cudnnDataType_t type = CUDNN_DATA_FLOAT;
  std::int64_t d[4] = {0, 0, 0, 0};  // n c h w (tensors) or k c r s (filters)
  std::int64_t st[4] = {0, 0, 0, 0};
  std::size_t elems() const { return std::size_t(d[0] * d[1] * d[2] * d[3]); }
  std::size_t bytes() const { return elems() * element_bytes(type); }
  std::size_t at(std::int64_t a, std::int64_t b, std::int64_t c, std::int64_t e) const {
    return std::size_t(a * st[0] + b * st[1] + c * st[2] + e * st[3]);
  }
};
View view_of(const cudnnTensorStruct& t, const void* p);
View view_of(const cudnnFilterStruct& f, const void* p);
std::string describe(const cudnnTensorStruct& t);
std::string describe(const cudnnFilterStruct& f);

// bf16 is the top half of a float32: widening is exact; narrowing rounds to nearest, ties to even.
inline float bf16_to_float(std::uint16_t b) {
  const std::uint32_t u = std::uint32_t(b) << 16;
  float v;
  std::memcpy(&v, &u, 4);
  return v;
}
inline std::uint16_t float_to_bf16(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  if (std::isnan(f)) return std::uint16_t((u >> 16) | 0x40u);  // stays a (quiet) NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return std::uint16_t(u >> 16);
}

// Element i of p, of type t, as the accumulation type (float or double).
template <typename Acc>
Acc load(const void* p, cudnnDataType_t t, std::size_t i) {
  switch (t) {
    case CUDNN_DATA_DOUBLE: return Acc(static_cast<const double*>(p)[i]);
    case CUDNN_DATA_BFLOAT16: return Acc(bf16_to_float(static_cast<const std::uint16_t*>(p)[i]));
    default: return Acc(static_cast<const float*>(p)[i]);
  }
}
template <typename Acc>
void store(void* p, cudnnDataType_t t, std::size_t i, Acc v) {
  switch (t) {
    case CUDNN_DATA_DOUBLE: static_cast<double*>(p)[i] = double(v); break;
    case CUDNN_DATA_BFLOAT16: static_cast<std::uint16_t*>(p)[i] = float_to_bf16(float(v)); break;
    default: static_cast<float*>(p)[i] = float(v); break;
  }
}
// out = alpha * v + beta * out, with out not read when beta == 0 (it may hold NaN), as cuDNN's
// blending is documented.
template <typename Acc>
void blend(void* p, cudnnDataType_t t, std::size_t i, Acc v, Acc alpha, Acc beta) {
  store<Acc>(p, t, i, beta == Acc(0) ? alpha * v : std::fma(beta, load<Acc>(p, t, i), alpha * v));
}

// True when [p, p + bytes) is device memory; otherwise sets the sticky error (as a kernel
// touching that address would) naming the call and the operand.
bool operand_ok(const char* fn, const char* which, const void* p, std::size_t bytes);

}  // namespace emu::dnn
