// Planted bugs for the emulator's tests (planted.h says what each one is).
#include <cstdint>

#include "planted.h"

namespace planted {

namespace {

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__global__ void block_sum_kernel(const float* x, float* out) {
  __shared__ float scratch[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  float v = warp_sum(x[blockIdx.x * blockDim.x + threadIdx.x]);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  // BUG: slots past the number of warps were never written (`lane < warps ? scratch[lane] : 0`).
  v = threadIdx.x < 32 ? scratch[lane] : 0.f;
  if (threadIdx.x < 32) v = warp_sum(v);
  if (threadIdx.x == 0) out[blockIdx.x] = v;
}

template <bool Barrier>
__global__ void shift_kernel(const float* in, float* out) {
  __shared__ float s[256];
  const int t = threadIdx.x, i = blockIdx.x * blockDim.x + t;
  s[t] = in[i];
  if (Barrier) __syncthreads();  // BUG when absent: s[t - 1] is another thread's write
  out[i] = t > 0 ? s[t - 1] : 0.f;
}

__global__ void barrier_in_branch_kernel(float* out) {
  if (threadIdx.x < 16) __syncthreads();  // BUG: half the block never gets here
  out[threadIdx.x] = 1.f;
}

__global__ void barrier_per_branch_kernel(float* out) {
  if (threadIdx.x < 16) {
    out[threadIdx.x] = 1.f;
    __syncthreads();  // BUG: a different barrier from the one the other half waits at
    out[threadIdx.x] += out[threadIdx.x + 16];
  } else {
    out[threadIdx.x] = 2.f;
    __syncthreads();
    out[threadIdx.x] *= out[threadIdx.x - 16];
  }
}

__global__ void early_return_kernel(const float* in, float* out, int n) {
  __shared__ float s[256];
  const int i = threadIdx.x;
  if (i >= n) return;  // BUG: these threads never reach the barrier below
  s[i] = in[i];
  __syncthreads();
  out[i] = s[n - 1 - i];
}

__global__ void warp_sum_kernel(const float* x, float* out) {
  out[threadIdx.x] = warp_sum(x[threadIdx.x]);  // BUG in a partial warp: the missing lanes are read
}

template <bool Offset16>
__global__ void half_warp_sum_kernel(const float* x, float* out) {
  float v = x[threadIdx.x];
  if (threadIdx.x < 16) {
    for (int o = Offset16 ? 16 : 8; o > 0; o >>= 1) v += __shfl_xor_sync(0x0000ffffu, v, o);
    out[threadIdx.x] = v;
  }
}

__global__ void shfl_down_kernel(const float* x, float* out) {
  float v = x[threadIdx.x];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  if (threadIdx.x == 0) out[0] = v;
}

__global__ void ballot_kernel(const float* x, float* out) {
  if (threadIdx.x < 16) out[threadIdx.x] = float(__ballot_sync(0x0000ffffu, x[threadIdx.x] > 0.f));
}

__global__ void mask_without_caller_kernel(float* out) {
  out[threadIdx.x] = __shfl_xor_sync(0x1u, 1.f, 1);  // BUG: lanes 1..31 are not in the mask
}

__global__ void write_past_end_kernel(float* y, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i <= n) y[i] = 1.f;  // BUG: <= n
}

__global__ void read_before_start_kernel(const float* x, float* y, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = x[i - 1];  // BUG: x[-1] for i == 0
}

__global__ void copy_kernel_(const float* x, float* y, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = x[i];
}

__global__ void shared_overflow_kernel(float* out) {
  __shared__ float s[32];
  s[threadIdx.x] = float(threadIdx.x);  // BUG: 64 threads, 32 slots
  __syncthreads();
  out[threadIdx.x] = s[threadIdx.x];
}

__global__ void partial_sum_kernel(const float* x, int n, float* partial) {
  __shared__ float scratch[8];
  float acc = 0.f;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) acc += x[i];
  acc = warp_sum(acc);
  if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = acc;
  __syncthreads();
  if (threadIdx.x == 0) {
    float s = 0.f;
    for (int w = 0; w < int(blockDim.x >> 5); ++w) s += scratch[w];
    partial[blockIdx.x] = s;  // BUG: the buffer holds 64 partial sums, the grid has 2 x SM count blocks
  }
}

__global__ void final_sum_kernel(const float* partial, int parts, float* out) {
  if (threadIdx.x == 0) {
    float s = 0.f;
    for (int i = 0; i < parts; ++i) s += partial[i];
    *out = s;
  }
}

__global__ void fill_kernel(float* y, int n, float value) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = value;
}

__global__ void axpy_by_value_kernel(float* y, const float* x, float a, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] += a * x[i];  // BUG in a graph: `a` is frozen at its value when captured
}

__global__ void axpy_from_device_kernel(float* y, const float* x, const float* a, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] += *a * x[i];  // read when it runs: a graph's replay sees the current value
}

// Written for at most 128 threads per block (a GPU compiles it to fit that).
__global__ void __launch_bounds__(128) bounded_kernel(float* y) { y[blockIdx.x * blockDim.x + threadIdx.x] = 1.f; }

__global__ void dynamic_shared_kernel(float* y) {
  extern __shared__ float smem[];
  smem[threadIdx.x] = float(threadIdx.x);
  __syncthreads();
  y[threadIdx.x] = smem[blockDim.x - 1 - threadIdx.x];
}

unsigned blocks_for(int n) { return unsigned((n + 255) / 256); }

// The PTX ISA's fragment tables for mma.m16n8k16 with .bf16, element by element (a0..a7 in
// a[0..3], b0..b3 in b[0..1], c0..c3), with groupID = lane / 4, threadID_in_group = lane % 4:
//   a_i: row groupID for i in {0, 1, 4, 5}, else groupID + 8; column 2 threadID_in_group + (i & 1),
//        plus 8 for i >= 4
//   b_i: row 2 threadID_in_group + (i & 1), plus 8 for i >= 2; column groupID
//   c_i: row groupID for i < 2, else groupID + 8; column 2 threadID_in_group + (i & 1)
// Element i is in register i / 2, its low half when i is even.
__global__ void mma_bf16_tile_kernel(const float* a, const float* b, const float* c, float* d) {
  const int lane = threadIdx.x % 32, group = lane / 4, tig = lane % 4;
  auto bits = [](float v) { return std::uint32_t(__float_as_uint(v) >> 16); };
  std::uint32_t ar[4] = {}, br[2] = {};
  for (int i = 0; i < 8; ++i) {
    const int row = (i == 0 || i == 1 || i == 4 || i == 5) ? group : group + 8;
    const int col = 2 * tig + (i & 1) + (i >= 4 ? 8 : 0);
    ar[i / 2] |= bits(a[row * 16 + col]) << (i % 2 ? 16 : 0);
  }
  for (int i = 0; i < 4; ++i) {
    const int row = 2 * tig + (i & 1) + (i >= 2 ? 8 : 0);
    br[i / 2] |= bits(b[row * 8 + group]) << (i % 2 ? 16 : 0);
  }
  float acc[4];
  for (int i = 0; i < 4; ++i) acc[i] = c[(i < 2 ? group : group + 8) * 8 + 2 * tig + (i & 1)];
  emu::mma_bf16_m16n8k16(acc, ar, br);
  for (int i = 0; i < 4; ++i) d[(i < 2 ? group : group + 8) * 8 + 2 * tig + (i & 1)] = acc[i];
}

// The PTX ISA's table for mma.m16n8k8 with .tf32, element by element: a_i at row groupID for
// i in {0, 2}, else groupID + 8, column threadID_in_group, plus 4 for i >= 2; b_i at row
// threadID_in_group (+ 4 for b1), column groupID; c as for m16n8k16.
__global__ void mma_tf32_tile_kernel(const float* a, const float* b, const float* c, float* d) {
  const int lane = threadIdx.x % 32, group = lane / 4, tig = lane % 4;
  std::uint32_t ar[4], br[2];
  for (int i = 0; i < 4; ++i) {
    const int row = (i == 0 || i == 2) ? group : group + 8, col = tig + (i >= 2 ? 4 : 0);
    ar[i] = __float_as_uint(a[row * 8 + col]);
  }
  for (int i = 0; i < 2; ++i) br[i] = __float_as_uint(b[(tig + 4 * i) * 8 + group]);
  float acc[4];
  for (int i = 0; i < 4; ++i) acc[i] = c[(i < 2 ? group : group + 8) * 8 + 2 * tig + (i & 1)];
  emu::mma_tf32_m16n8k8(acc, ar, br);
  for (int i = 0; i < 4; ++i) d[(i < 2 ? group : group + 8) * 8 + 2 * tig + (i & 1)] = acc[i];
}

}  // namespace

cudaError_t block_sum_reads_unwritten_slots(const float* x, float* out, int blocks, cudaStream_t s) {
  block_sum_kernel<<<blocks, 128, 0, s>>>(x, out);
  return cudaGetLastError();
}

cudaError_t shift_through_shared(const float* in, float* out, int blocks, bool with_barrier, cudaStream_t s) {
  if (with_barrier)
    shift_kernel<true><<<blocks, 256, 0, s>>>(in, out);
  else
    shift_kernel<false><<<blocks, 256, 0, s>>>(in, out);
  return cudaGetLastError();
}

cudaError_t barrier_in_branch(float* out, cudaStream_t s) {
  barrier_in_branch_kernel<<<1, 32, 0, s>>>(out);
  return cudaGetLastError();
}

cudaError_t barrier_per_branch(float* out, cudaStream_t s) {
  barrier_per_branch_kernel<<<1, 32, 0, s>>>(out);
  return cudaGetLastError();
}

cudaError_t early_return_before_barrier(const float* in, float* out, int n, cudaStream_t s) {
  early_return_kernel<<<1, 256, 0, s>>>(in, out, n);
  return cudaGetLastError();
}

cudaError_t warp_sum_full_mask(const float* x, float* out, int threads, cudaStream_t s) {
  warp_sum_kernel<<<1, threads, 0, s>>>(x, out);
  return cudaGetLastError();
}

cudaError_t half_warp_sum(const float* x, float* out, bool offset16, cudaStream_t s) {
  if (offset16)
    half_warp_sum_kernel<true><<<1, 32, 0, s>>>(x, out);
  else
    half_warp_sum_kernel<false><<<1, 32, 0, s>>>(x, out);
  return cudaGetLastError();
}

cudaError_t warp_sum_shfl_down(const float* x, float* out, cudaStream_t s) {
  shfl_down_kernel<<<1, 32, 0, s>>>(x, out);
  return cudaGetLastError();
}

cudaError_t half_warp_ballot(const float* x, float* out, cudaStream_t s) {
  ballot_kernel<<<1, 32, 0, s>>>(x, out);
  return cudaGetLastError();
}

cudaError_t shuffle_mask_without_caller(float* out, cudaStream_t s) {
  mask_without_caller_kernel<<<1, 32, 0, s>>>(out);
  return cudaGetLastError();
}

cudaError_t write_one_past_end(float* y, int n, cudaStream_t s) {
  write_past_end_kernel<<<blocks_for(n + 1), 256, 0, s>>>(y, n);
  return cudaGetLastError();
}

cudaError_t read_before_start(const float* x, float* y, int n, cudaStream_t s) {
  read_before_start_kernel<<<blocks_for(n), 256, 0, s>>>(x, y, n);
  return cudaGetLastError();
}

cudaError_t copy_kernel(const float* x, float* y, int n, cudaStream_t s) {
  copy_kernel_<<<blocks_for(n), 256, 0, s>>>(x, y, n);
  return cudaGetLastError();
}

cudaError_t shared_overflow(float* out, cudaStream_t s) {
  shared_overflow_kernel<<<1, 64, 0, s>>>(out);
  return cudaGetLastError();
}

cudaError_t sum_with_fixed_partials(const float* x, int n, float* partial64, float* out, cudaStream_t s) {
  int sms = 0;
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
  const int blocks = 2 * sms;  // fill the GPU
  partial_sum_kernel<<<blocks, 256, 0, s>>>(x, n, partial64);
  final_sum_kernel<<<1, 32, 0, s>>>(partial64, blocks < 64 ? blocks : 64, out);
  return cudaGetLastError();
}

cudaError_t past_launch_bounds(float* y, cudaStream_t s) {
  bounded_kernel<<<1, 256, 0, s>>>(y);
  return cudaGetLastError();
}

cudaError_t too_many_threads(float* y, cudaStream_t s) {
  fill_kernel<<<1, 2048, 0, s>>>(y, 2048, 1.f);
  return cudaGetLastError();
}

cudaError_t large_dynamic_shared(float* y, bool set_attribute, cudaStream_t s) {
  const int bytes = 64 * 1024;
  if (set_attribute) cudaFuncSetAttribute(dynamic_shared_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
  dynamic_shared_kernel<<<1, 256, bytes, s>>>(y);
  return cudaGetLastError();
}

cudaError_t axpy_by_value(float* y, const float* x, float a, int n, cudaStream_t s) {
  axpy_by_value_kernel<<<blocks_for(n), 256, 0, s>>>(y, x, a, n);
  return cudaGetLastError();
}

cudaError_t axpy_from_device(float* y, const float* x, const float* a, int n, cudaStream_t s) {
  axpy_from_device_kernel<<<blocks_for(n), 256, 0, s>>>(y, x, a, n);
  return cudaGetLastError();
}

cudaError_t fill(float* y, int n, float value, cudaStream_t s) {
  fill_kernel<<<blocks_for(n), 256, 0, s>>>(y, n, value);
  return cudaGetLastError();
}

cudaError_t mma_bf16_tile(const float* a, const float* b, const float* c, float* d, int threads, cudaStream_t s) {
  mma_bf16_tile_kernel<<<1, threads, 0, s>>>(a, b, c, d);
  return cudaGetLastError();
}

cudaError_t mma_tf32_tile(const float* a, const float* b, const float* c, float* d, cudaStream_t s) {
  mma_tf32_tile_kernel<<<1, 32, 0, s>>>(a, b, c, d);
  return cudaGetLastError();
}

}  // namespace planted
