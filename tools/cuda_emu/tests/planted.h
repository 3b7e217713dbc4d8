// Kernels with planted bugs (planted.cu), each the kind of bug one of the emulator's models
// exists to catch, and a correct twin where that helps show the model raises no false alarm.
// Each function launches on `stream` and returns the launch's cudaGetLastError.
#pragma once

#include <cuda_runtime.h>

namespace planted {

// Shared memory: a block reduction that reads all 32 slots of its scratch array, although only
// one slot per warp was written (4 warps of 32 threads per block). `out[block]` is the sum.
cudaError_t block_sum_reads_unwritten_slots(const float* x, float* out, int blocks, cudaStream_t s);

// Thread order: out[i] = in[i - 1] through shared memory, with (or without, the bug) the
// __syncthreads between the writes and the reads. 256 threads per block.
cudaError_t shift_through_shared(const float* in, float* out, int blocks, bool with_barrier, cudaStream_t s);

// Barrier divergence: only threads < 16 reach __syncthreads.
cudaError_t barrier_in_branch(float* out, cudaStream_t s);
// Barrier divergence: threads < 16 and the others wait at two different __syncthreads calls.
cudaError_t barrier_per_branch(float* out, cudaStream_t s);
// Barrier divergence: threads past n return before the barrier the others wait at.
cudaError_t early_return_before_barrier(const float* in, float* out, int n, cudaStream_t s);

// Warps: a full-mask xor-shuffle sum over `threads` threads (a partial last warp when threads
// is not a multiple of 32). out[t] = the sum over t's warp.
cudaError_t warp_sum_full_mask(const float* x, float* out, int threads, cudaStream_t s);
// Lanes < 16 sum their 16 values with mask 0x0000ffff, offsets 8..1 (correct), or 16..1 (the
// bug: lane ^ 16 is not in the mask). out[t] for t < 16.
cudaError_t half_warp_sum(const float* x, float* out, bool offset16, cudaStream_t s);
// A correct shfl_down reduction: lane 0 gets the warp's sum (the lanes past the end keep their
// own value, which the reduction never uses). out[0] = sum of x[0..31].
cudaError_t warp_sum_shfl_down(const float* x, float* out, cudaStream_t s);
// __ballot_sync(0x0000ffff, x[lane] > 0) by lanes < 16; out[lane] = the ballot as a float.
cudaError_t half_warp_ballot(const float* x, float* out, cudaStream_t s);
// Every lane calls __shfl_xor_sync with mask 0x1, which names only lane 0.
cudaError_t shuffle_mask_without_caller(float* out, cudaStream_t s);

// Memory: y[i] = 1 for i <= n (one element past the end).
cudaError_t write_one_past_end(float* y, int n, cudaStream_t s);
// y[i] = x[i - 1] for i < n (x[-1] for i == 0).
cudaError_t read_before_start(const float* x, float* y, int n, cudaStream_t s);
// y[i] = x[i], for any x (freed, or host memory).
cudaError_t copy_kernel(const float* x, float* y, int n, cudaStream_t s);
// A __shared__ float[32] indexed by threadIdx.x, launched with 64 threads.
cudaError_t shared_overflow(float* out, cudaStream_t s);

// SM count: a two-pass sum whose partial buffer holds 64 values while the first pass runs
// 2 x (SM count) blocks. out = sum of x.
cudaError_t sum_with_fixed_partials(const float* x, int n, float* partial64, float* out, cudaStream_t s);

// Launch configuration: a __launch_bounds__(128) kernel launched with 256 threads per block.
cudaError_t past_launch_bounds(float* y, cudaStream_t s);
// Launch configuration: 2048 threads per block (the limit is 1024).
cudaError_t too_many_threads(float* y, cudaStream_t s);
// Launch configuration: 64 KiB of dynamic shared memory, with or without first raising the
// kernel's cudaFuncAttributeMaxDynamicSharedMemorySize (without, a GPU refuses the launch).
// y[t] = 255 - t for 256 threads.
cudaError_t large_dynamic_shared(float* y, bool set_attribute, cudaStream_t s);

// y[i] = value.
cudaError_t fill(float* y, int n, float value, cudaStream_t s);

// Graphs: y[i] += a * x[i], with `a` a kernel argument (the bug when `a` is a learning rate that
// changes between replays: the graph keeps the value it was captured with), or read from device
// memory when the kernel runs (the fix).
cudaError_t axpy_by_value(float* y, const float* x, float a, int n, cudaStream_t s);
cudaError_t axpy_from_device(float* y, const float* x, const float* a, int n, cudaStream_t s);

// Tensor cores: one mma.sync.m16n8k16 (bf16) by `threads` threads (32, or a partial warp), each
// lane filling its fragments by the PTX ISA's element tables: a 16x16 (row-major), b 16x8 (k x n,
// row-major), c 16x8 in; d = a b + c, 16x8 (NaN where no lane wrote). a and b must be bf16 values.
cudaError_t mma_bf16_tile(const float* a, const float* b, const float* c, float* d, int threads, cudaStream_t s);
// The same for one mma.sync.m16n8k8 (tf32): a 16x8, b 8x8 (k x n), c and d 16x8; each operand's
// float32 bits go in as they are (the instruction ignores their low 13 bits).
cudaError_t mma_tf32_tile(const float* a, const float* b, const float* c, float* d, cudaStream_t s);

}  // namespace planted
