// CUDA graphs of minidl's per-device stream (kernels/runtime.h): capture, instantiate, launch.
#include <cuda_runtime.h>

#include "minidl/base/error.h"
#include "minidl/kernels/cuda/check.h"
#include "minidl/kernels/cuda/context.h"
#include "minidl/kernels/runtime.h"

namespace minidl::kernels::cuda {

namespace {
struct Graph {
  int device;
  cudaGraphExec_t exec;
};
}  // namespace

void capture_begin(int device) {
  detail::DeviceGuard guard(device);
  detail::Context& ctx = detail::context(device);
  // Global mode, as PyTorch's default: any host synchronisation or cudaFree while capturing, from
  // any thread, is an error instead of a graph that silently lacks it.
  CUDA_CHECK(cudaStreamBeginCapture(ctx.stream(), cudaStreamCaptureModeGlobal));
  ctx.graph_created();
}

void* capture_end(int device) {
  detail::DeviceGuard guard(device);
  detail::Context& ctx = detail::context(device);
  cudaGraph_t graph = nullptr;
  const cudaError_t ended = cudaStreamEndCapture(ctx.stream(), &graph);
  if (ended != cudaSuccess) {
    ctx.graph_destroyed();
    detail::throw_cuda_error(ended, "cudaStreamEndCapture(stream, &graph)", __FILE__, __LINE__);
  }
  cudaGraphExec_t exec = nullptr;
  const cudaError_t made = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);  // the executable graph is a copy
  if (made != cudaSuccess) {
    ctx.graph_destroyed();
    detail::throw_cuda_error(made, "cudaGraphInstantiate(&exec, graph, 0)", __FILE__, __LINE__);
  }
  return new Graph{device, exec};
}

void capture_abort(int device) {
  detail::DeviceGuard guard(device);
  detail::Context& ctx = detail::context(device);
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(ctx.stream(), &status) != cudaSuccess || status == cudaStreamCaptureStatusNone) {
    cudaGetLastError();
    return;
  }
  cudaGraph_t graph = nullptr;
  if (cudaStreamEndCapture(ctx.stream(), &graph) == cudaSuccess && graph) cudaGraphDestroy(graph);
  cudaGetLastError();  // the failure that brought us here is the one to report, not this
  ctx.graph_destroyed();
}

void graph_launch(void* graph) {
  const Graph& g = *static_cast<const Graph*>(graph);
  detail::DeviceGuard guard(g.device);
  CUDA_CHECK(cudaGraphLaunch(g.exec, detail::context(g.device).stream()));
}

void graph_destroy(void* graph) {
  if (!graph) return;
  Graph* g = static_cast<Graph*>(graph);
  {
    detail::DeviceGuard guard(g->device);
    CUDA_CHECK(cudaGraphExecDestroy(g->exec));
    detail::context(g->device).graph_destroyed();
  }
  delete g;
}

}  // namespace minidl::kernels::cuda
