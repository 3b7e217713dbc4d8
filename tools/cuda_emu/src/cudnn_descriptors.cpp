// The emulated cuDNN's handle, errors and descriptors (include/cudnn.h).
#include <algorithm>

#include "cudnn_internal.h"

namespace emu::dnn {

namespace {
thread_local std::string g_last_error;
}

const std::string& last_error() { return g_last_error; }

cudnnStatus_t fail(cudnnStatus_t status, const std::string& message) {
  g_last_error = std::string(cudnnGetErrorString(status)) + ": " + message;
  return status;
}

std::size_t element_bytes(cudnnDataType_t t) {
  switch (t) {
    case CUDNN_DATA_DOUBLE: return 8;
    case CUDNN_DATA_BFLOAT16: return 2;
    default: return 4;
  }
}

const char* type_name(cudnnDataType_t t) {
  switch (t) {
    case CUDNN_DATA_FLOAT: return "FLOAT";
    case CUDNN_DATA_DOUBLE: return "DOUBLE";
    case CUDNN_DATA_HALF: return "HALF";
    case CUDNN_DATA_BFLOAT16: return "BFLOAT16";
    case CUDNN_DATA_INT8: return "INT8";
    case CUDNN_DATA_INT32: return "INT32";
  }
  return "an unknown type";
}

namespace {
// Packed strides for sizes d (the order of the format's logical dims: n c h w) in `format`.
void packed(cudnnTensorFormat_t format, const std::int64_t d[4], std::int64_t st[4]) {
  if (format == CUDNN_TENSOR_NHWC) {  // memory order n h w c
    st[1] = 1;
    st[3] = d[1];
    st[2] = d[3] * d[1];
    st[0] = d[2] * d[3] * d[1];
  } else {  // n c h w
    st[3] = 1;
    st[2] = d[3];
    st[1] = d[2] * d[3];
    st[0] = d[1] * d[2] * d[3];
  }
}
const char* format_name(cudnnTensorFormat_t f) { return f == CUDNN_TENSOR_NHWC ? "NHWC" : "NCHW"; }
}  // namespace

View view_of(const cudnnTensorStruct& t, const void* p) {
  View v;
  v.ptr = p;
  v.type = t.type;
  v.d[0] = t.n, v.d[1] = t.c, v.d[2] = t.h, v.d[3] = t.w;
  packed(t.format, v.d, v.st);
  return v;
}

View view_of(const cudnnFilterStruct& f, const void* p) {
  View v;
  v.ptr = p;
  v.type = f.type;
  v.d[0] = f.k, v.d[1] = f.c, v.d[2] = f.r, v.d[3] = f.s;
  packed(f.format, v.d, v.st);  // NCHW = KCRS, NHWC = KRSC
  return v;
}

std::string describe(const cudnnTensorStruct& t) {
  return str("%s %s [%d, %d, %d, %d]", type_name(t.type), format_name(t.format), t.n, t.c, t.h, t.w);
}
std::string describe(const cudnnFilterStruct& f) {
  return str("%s %s filter [k %d, c %d, r %d, s %d]", type_name(f.type), format_name(f.format), f.k, f.c, f.r, f.s);
}

bool operand_ok(const char* fn, const char* which, const void* p, std::size_t bytes) {
  if (bytes == 0 || device_range_ok(p, bytes)) return true;
  set_sticky_error(cudaErrorIllegalAddress,
                   str("%s: operand %s (%p, %zu bytes) is not within a device allocation: %s", fn, which, p, bytes,
                       in_arena(p) ? describe_device_address(reinterpret_cast<std::uintptr_t>(p), 4).c_str()
                                   : "a host address"));
  fail(CUDNN_STATUS_EXECUTION_FAILED, str("%s: %s is not device memory", fn, which));
  return false;
}

}  // namespace emu::dnn

using emu::str;
using emu::dnn::fail;

size_t cudnnGetVersion(void) { return CUDNN_VERSION; }

const char* cudnnGetErrorString(cudnnStatus_t status) {
  switch (status) {
    case CUDNN_STATUS_SUCCESS: return "CUDNN_STATUS_SUCCESS";
    case CUDNN_STATUS_NOT_INITIALIZED: return "CUDNN_STATUS_NOT_INITIALIZED";
    case CUDNN_STATUS_BAD_PARAM: return "CUDNN_STATUS_BAD_PARAM";
    case CUDNN_STATUS_BAD_PARAM_NULL_POINTER: return "CUDNN_STATUS_BAD_PARAM_NULL_POINTER";
    case CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH: return "CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH";
    case CUDNN_STATUS_NOT_SUPPORTED: return "CUDNN_STATUS_NOT_SUPPORTED";
    case CUDNN_STATUS_NOT_SUPPORTED_SHAPE: return "CUDNN_STATUS_NOT_SUPPORTED_SHAPE";
    case CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE: return "CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE";
    case CUDNN_STATUS_NOT_SUPPORTED_LAYOUT: return "CUDNN_STATUS_NOT_SUPPORTED_LAYOUT";
    case CUDNN_STATUS_INTERNAL_ERROR: return "CUDNN_STATUS_INTERNAL_ERROR";
    case CUDNN_STATUS_EXECUTION_FAILED: return "CUDNN_STATUS_EXECUTION_FAILED";
  }
  return "CUDNN_STATUS_UNKNOWN";
}

void cudnnGetLastErrorString(char* message, size_t max_size) {
  if (!message || max_size == 0) return;
  const std::string& last = emu::dnn::last_error();
  const std::size_t n = std::min(last.size(), max_size - 1);
  std::memcpy(message, last.data(), n);
  message[n] = '\0';
}

cudnnStatus_t cudnnCreate(cudnnHandle_t* handle) {
  if (!handle) return fail(CUDNN_STATUS_BAD_PARAM, "cudnnCreate: handle is null");
  *handle = new cudnnContext();
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroy(cudnnHandle_t handle) {
  delete handle;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetStream(cudnnHandle_t handle, cudaStream_t stream) {
  if (!handle) return fail(CUDNN_STATUS_BAD_PARAM, "cudnnSetStream: handle is null");
  std::lock_guard<std::recursive_mutex> lock(emu::api_mutex());
  if (!emu::valid_stream(stream)) return fail(CUDNN_STATUS_BAD_PARAM, "cudnnSetStream: not a valid stream");
  handle->stream = stream;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetStream(cudnnHandle_t handle, cudaStream_t* stream) {
  if (!handle || !stream) return fail(CUDNN_STATUS_BAD_PARAM, "cudnnGetStream: null argument");
  *stream = handle->stream;
  return CUDNN_STATUS_SUCCESS;
}

// ---- tensors and filters ----

namespace {
// The element types the emulator computes in; HALF and the integer types are not modelled.
cudnnStatus_t check_type(const char* fn, cudnnDataType_t t) {
  if (t == CUDNN_DATA_FLOAT || t == CUDNN_DATA_DOUBLE || t == CUDNN_DATA_BFLOAT16) return CUDNN_STATUS_SUCCESS;
  if (t == CUDNN_DATA_HALF || t == CUDNN_DATA_INT8 || t == CUDNN_DATA_INT32)
    return fail(CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE, str("%s: data type %s is not modelled by the emulator", fn,
                                                          emu::dnn::type_name(t)));
  return fail(CUDNN_STATUS_BAD_PARAM, str("%s: %d is not a cudnnDataType_t", fn, int(t)));
}
cudnnStatus_t check_format(const char* fn, cudnnTensorFormat_t f) {
  if (f == CUDNN_TENSOR_NCHW || f == CUDNN_TENSOR_NHWC) return CUDNN_STATUS_SUCCESS;
  if (f == CUDNN_TENSOR_NCHW_VECT_C)
    return fail(CUDNN_STATUS_NOT_SUPPORTED_LAYOUT, str("%s: NCHW_VECT_C is not modelled by the emulator", fn));
  return fail(CUDNN_STATUS_BAD_PARAM, str("%s: %d is not a cudnnTensorFormat_t", fn, int(f)));
}
}  // namespace

cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t* d) {
  if (!d) return fail(CUDNN_STATUS_BAD_PARAM, "cudnnCreateTensorDescriptor: null argument");
  *d = new cudnnTensorStruct();
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t d) {
  delete d;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t d, cudnnTensorFormat_t format, cudnnDataType_t type,
                                         int n, int c, int h, int w) {
  const char* fn = "cudnnSetTensor4dDescriptor";
  if (!d) return fail(CUDNN_STATUS_BAD_PARAM, str("%s: null descriptor", fn));
  if (const cudnnStatus_t s = check_format(fn, format)) return s;
  if (const cudnnStatus_t s = check_type(fn, type)) return s;
  if (n <= 0 || c <= 0 || h <= 0 || w <= 0)
    return fail(CUDNN_STATUS_BAD_PARAM, str("%s: sizes [%d, %d, %d, %d] must all be positive", fn, n, c, h, w));
  // Strides are ints in cuDNN's 4-d API: the tensor must be indexable by one.
  if (std::int64_t(n) * c * h * w > INT32_MAX)
    return fail(CUDNN_STATUS_NOT_SUPPORTED, str("%s: [%d, %d, %d, %d] has more than 2^31 - 1 elements", fn, n, c, h, w));
  *d = cudnnTensorStruct{true, format, type, n, c, h, w};
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t* d) {
  if (!d) return fail(CUDNN_STATUS_BAD_PARAM, "cudnnCreateFilterDescriptor: null argument");
  *d = new cudnnFilterStruct();
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t d) {
  delete d;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t d, cudnnDataType_t type, cudnnTensorFormat_t format,
                                         int k, int c, int h, int w) {
  const char* fn = "cudnnSetFilter4dDescriptor";
  if (!d) return fail(CUDNN_STATUS_BAD_PARAM, str("%s: null descriptor", fn));
  if (const cudnnStatus_t s = check_format(fn, format)) return s;
  if (const cudnnStatus_t s = check_type(fn, type)) return s;
  if (k <= 0 || c <= 0 || h <= 0 || w <= 0)
    return fail(CUDNN_STATUS_BAD_PARAM, str("%s: sizes [%d, %d, %d, %d] must all be positive", fn, k, c, h, w));
  *d = cudnnFilterStruct{true, format, type, k, c, h, w};
  return CUDNN_STATUS_SUCCESS;
}

// ---- convolutions ----

cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t* d) {
  if (!d) return fail(CUDNN_STATUS_BAD_PARAM, "cudnnCreateConvolutionDescriptor: null argument");
  *d = new cudnnConvolutionStruct();
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t d) {
  delete d;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t d, int pad_h, int pad_w, int u, int v,
                                              int dilation_h, int dilation_w, cudnnConvolutionMode_t mode,
                                              cudnnDataType_t compute) {
  const char* fn = "cudnnSetConvolution2dDescriptor";
  if (!d) return fail(CUDNN_STATUS_BAD_PARAM, str("%s: null descriptor", fn));
  if (pad_h < 0 || pad_w < 0 || u <= 0 || v <= 0 || dilation_h <= 0 || dilation_w <= 0)
    return fail(CUDNN_STATUS_BAD_PARAM,
                str("%s: padding %dx%d must be >= 0, stride %dx%d and dilation %dx%d > 0", fn, pad_h, pad_w, u, v,
                    dilation_h, dilation_w));
  if (mode != CUDNN_CONVOLUTION && mode != CUDNN_CROSS_CORRELATION)
    return fail(CUDNN_STATUS_BAD_PARAM, str("%s: %d is not a cudnnConvolutionMode_t", fn, int(mode)));
  // The compute type is checked against the data when the descriptor is used (the pairing is what
  // cuDNN's table of supported configurations restricts).
  if (compute != CUDNN_DATA_FLOAT && compute != CUDNN_DATA_DOUBLE && compute != CUDNN_DATA_HALF &&
      compute != CUDNN_DATA_BFLOAT16 && compute != CUDNN_DATA_INT32)
    return fail(CUDNN_STATUS_BAD_PARAM, str("%s: %d is not a compute type", fn, int(compute)));
  const int groups = d->groups;
  const cudnnMathType_t math = d->math;
  *d = cudnnConvolutionStruct{true, pad_h, pad_w, u, v, dilation_h, dilation_w, mode, compute, groups, math};
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetConvolutionGroupCount(cudnnConvolutionDescriptor_t d, int groups) {
  if (!d) return fail(CUDNN_STATUS_BAD_PARAM, "cudnnSetConvolutionGroupCount: null descriptor");
  if (groups < 1) return fail(CUDNN_STATUS_BAD_PARAM, str("cudnnSetConvolutionGroupCount: %d groups", groups));
  d->groups = groups;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t d, cudnnMathType_t math) {
  if (!d) return fail(CUDNN_STATUS_BAD_PARAM, "cudnnSetConvolutionMathType: null descriptor");
  if (math != CUDNN_DEFAULT_MATH && math != CUDNN_TENSOR_OP_MATH && math != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION &&
      math != CUDNN_FMA_MATH)
    return fail(CUDNN_STATUS_BAD_PARAM, str("cudnnSetConvolutionMathType: %d is not a cudnnMathType_t", int(math)));
  d->math = math;
  return CUDNN_STATUS_SUCCESS;
}
