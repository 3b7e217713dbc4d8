// Float32 convolution through oneDNN, the CPU counterpart of cuDNN; bf16 arithmetic for the
// precision policy's bf16 operands where the CPU has it.
//
// Why: im2col + GEMM moves every input value three times before the arithmetic (unrolled into
// the column matrix, packed by the BLAS, read by its kernel), and for ResNet's 64-channel layers
// (a GEMM with m = 64) those copies cost about as much as the multiply-adds. oneDNN's direct
// convolutions work on a channel-blocked layout with no unrolling; measured on the FER model
// (docs/benchmarks.md) they run the large-map layers 1.5 to 1.9x faster. Which backend runs for
// which geometry is conv2d.cpp's choice (its auto rule).
//
// How: our tensors are plain NCHW, so each call reorders the operands that oneDNN wants in its
// blocked layout into scratch buffers, runs the primitive, and reorders the result back (adding
// onto the destination when the caller accumulates, through a reorder with a sum post-op, so
// accumulation costs no extra pass). Primitives and reorders are created once per geometry and
// thread count and kept for the life of the process (as the cuDNN plans are on the GPU), so a
// steady-state step creates nothing and allocates nothing (the scratch buffers only grow).
//
// Groups and dilation go to oneDNN as they are (grouped 5-d weights, the dilated descriptors).
// supports() builds (once) the plan for the direction and geometry, so a geometry oneDNN
// declines is known before anything runs; a bias is added after the primitive, so one plan
// serves calls with and without one (ResNet's convolutions have none).
//
// Linking: the library is loaded with dlopen at first use rather than linked, so a binary
// built where oneDNN's headers exist still runs (on im2col) where libdnnl.so.2 does not. CMake
// looks for the headers (MINIDL_ONEDNN, reported as MINIDL_WITH_ONEDNN in config.h and in the
// configure summary); without them this file builds a backend that supports nothing.
#include "minidl/config.h"
#include "minidl/kernels/cpu/conv2d_backends.h"

#include <omp.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

#include "minidl/base/error.h"
#include "minidl/kernels/cpu/parallel.h"

#if MINIDL_WITH_ONEDNN
#include <dlfcn.h>
#include <oneapi/dnnl/dnnl.h>
#endif

namespace minidl::kernels::cpu::onednn {

#if MINIDL_WITH_ONEDNN
namespace {

// The oneDNN C API functions we use, resolved from libdnnl.so.2.
struct Api {
#define MINIDL_DNNL_FN(name) decltype(&::name) name = nullptr;
  MINIDL_DNNL_FN(dnnl_engine_create)
  MINIDL_DNNL_FN(dnnl_stream_create)
  MINIDL_DNNL_FN(dnnl_stream_wait)
  MINIDL_DNNL_FN(dnnl_memory_desc_init_by_tag)
  MINIDL_DNNL_FN(dnnl_memory_desc_equal)
  MINIDL_DNNL_FN(dnnl_memory_desc_get_size)
  MINIDL_DNNL_FN(dnnl_memory_create)
  MINIDL_DNNL_FN(dnnl_memory_set_data_handle)
  MINIDL_DNNL_FN(dnnl_dilated_convolution_forward_desc_init)
  MINIDL_DNNL_FN(dnnl_dilated_convolution_backward_data_desc_init)
  MINIDL_DNNL_FN(dnnl_dilated_convolution_backward_weights_desc_init)
  MINIDL_DNNL_FN(dnnl_primitive_attr_create)
  MINIDL_DNNL_FN(dnnl_primitive_attr_destroy)
  MINIDL_DNNL_FN(dnnl_primitive_attr_set_scratchpad_mode)
  MINIDL_DNNL_FN(dnnl_primitive_attr_set_post_ops)
  MINIDL_DNNL_FN(dnnl_post_ops_create)
  MINIDL_DNNL_FN(dnnl_post_ops_destroy)
  MINIDL_DNNL_FN(dnnl_post_ops_append_sum)
  MINIDL_DNNL_FN(dnnl_primitive_desc_create)
  MINIDL_DNNL_FN(dnnl_primitive_desc_destroy)
  MINIDL_DNNL_FN(dnnl_primitive_desc_query_md)
  MINIDL_DNNL_FN(dnnl_primitive_desc_query)
  MINIDL_DNNL_FN(dnnl_reorder_primitive_desc_create)
  MINIDL_DNNL_FN(dnnl_primitive_create)
  MINIDL_DNNL_FN(dnnl_primitive_execute)
#undef MINIDL_DNNL_FN
  dnnl_engine_t engine = nullptr;
  dnnl_stream_t stream = nullptr;
  bool ok = false;
  std::string why_not;  // when !ok: what failed
};

const Api& api() {
  static const Api a = [] {
    Api r;
    // Built with oneDNN but running without it is a slower fallback nobody asked for: say so
    // once, on stderr, instead of dropping to im2col silently.
    auto fail = [&r](std::string why) {
      r.why_not = "oneDNN was built in but cannot be used: " + why;
      std::fprintf(stderr, "minidl: %s; CPU convolutions run on im2col\n", r.why_not.c_str());
      return r;
    };
    void* lib = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      const char* e = dlerror();
      return fail(e ? e : "dlopen(libdnnl.so.2) failed");
    }
    bool all = true;
#define MINIDL_DNNL_LOAD(name)                                     \
  r.name = reinterpret_cast<decltype(r.name)>(dlsym(lib, #name)); \
  all = all && r.name;
    MINIDL_DNNL_LOAD(dnnl_engine_create)
    MINIDL_DNNL_LOAD(dnnl_stream_create)
    MINIDL_DNNL_LOAD(dnnl_stream_wait)
    MINIDL_DNNL_LOAD(dnnl_memory_desc_init_by_tag)
    MINIDL_DNNL_LOAD(dnnl_memory_desc_equal)
    MINIDL_DNNL_LOAD(dnnl_memory_desc_get_size)
    MINIDL_DNNL_LOAD(dnnl_memory_create)
    MINIDL_DNNL_LOAD(dnnl_memory_set_data_handle)
    MINIDL_DNNL_LOAD(dnnl_dilated_convolution_forward_desc_init)
    MINIDL_DNNL_LOAD(dnnl_dilated_convolution_backward_data_desc_init)
    MINIDL_DNNL_LOAD(dnnl_dilated_convolution_backward_weights_desc_init)
    MINIDL_DNNL_LOAD(dnnl_primitive_attr_create)
    MINIDL_DNNL_LOAD(dnnl_primitive_attr_destroy)
    MINIDL_DNNL_LOAD(dnnl_primitive_attr_set_scratchpad_mode)
    MINIDL_DNNL_LOAD(dnnl_primitive_attr_set_post_ops)
    MINIDL_DNNL_LOAD(dnnl_post_ops_create)
    MINIDL_DNNL_LOAD(dnnl_post_ops_destroy)
    MINIDL_DNNL_LOAD(dnnl_post_ops_append_sum)
    MINIDL_DNNL_LOAD(dnnl_primitive_desc_create)
    MINIDL_DNNL_LOAD(dnnl_primitive_desc_destroy)
    MINIDL_DNNL_LOAD(dnnl_primitive_desc_query_md)
    MINIDL_DNNL_LOAD(dnnl_primitive_desc_query)
    MINIDL_DNNL_LOAD(dnnl_reorder_primitive_desc_create)
    MINIDL_DNNL_LOAD(dnnl_primitive_create)
    MINIDL_DNNL_LOAD(dnnl_primitive_execute)
#undef MINIDL_DNNL_LOAD
    if (!all) return fail("libdnnl.so.2 lacks a function minidl calls (not oneDNN 2.x?)");
    if (r.dnnl_engine_create(&r.engine, dnnl_cpu, 0) != dnnl_success) return fail("dnnl_engine_create failed");
    if (r.dnnl_stream_create(&r.stream, r.engine, dnnl_stream_default_flags) != dnnl_success)
      return fail("dnnl_stream_create failed");
    r.ok = true;
    return r;
  }();
  return a;
}

enum class Op { Forward, BackwardData, BackwardWeights };

// One tensor argument of the primitive: its plain layout (ours), the primitive's, and the
// reorders between them.
struct Operand {
  int arg = 0;                             // DNNL_ARG_*
  detail::Scratch slot = detail::Scratch::DnnlIn0;
  dnnl_memory_desc_t user{}, inner{};
  bool same = true;                        // the primitive takes our layout as it is
  dnnl_primitive_t reorder = nullptr;      // input: user -> inner; output: inner -> user
  dnnl_primitive_t reorder_sum = nullptr;  // output only: inner -> user, adding (made on first use)
  dnnl_memory_t user_mem = nullptr, inner_mem = nullptr;
  std::size_t inner_bytes = 0;
};

struct Plan {
  bool ok = false;
  dnnl_primitive_t prim = nullptr;
  Operand in[2];
  int n_in = 0;
  Operand out;
  std::size_t pad_bytes = 0;
  dnnl_memory_t pad_mem = nullptr;
  std::mutex mu;  // the memory objects' handles are set per call
};

using Key = std::tuple<int, Conv2dGeometry::ShapeKey, int, bool>;  // direction, shape, threads, bf16

bool ok(dnnl_status_t s) { return s == dnnl_success; }

dnnl_primitive_t make_reorder(const Api& a, const dnnl_memory_desc_t& from, const dnnl_memory_desc_t& to, bool sum) {
  dnnl_primitive_attr_t attr = nullptr;
  dnnl_post_ops_t ops = nullptr;
  dnnl_primitive_desc_t pd = nullptr;
  dnnl_primitive_t prim = nullptr;
  bool good = ok(a.dnnl_primitive_attr_create(&attr));
  if (good && sum) {
    good = ok(a.dnnl_post_ops_create(&ops)) && ok(a.dnnl_post_ops_append_sum(ops, 1.0f)) &&
           ok(a.dnnl_primitive_attr_set_post_ops(attr, ops));
  }
  good = good && ok(a.dnnl_reorder_primitive_desc_create(&pd, &from, a.engine, &to, a.engine, attr));
  good = good && ok(a.dnnl_primitive_create(&prim, pd));
  if (pd) a.dnnl_primitive_desc_destroy(pd);
  if (ops) a.dnnl_post_ops_destroy(ops);
  if (attr) a.dnnl_primitive_attr_destroy(attr);
  return good ? prim : nullptr;
}

bool init_operand(const Api& a, Operand& o, int arg, detail::Scratch slot, const dnnl_memory_desc_t& user,
                  const dnnl_memory_desc_t* inner, bool input) {
  o.arg = arg;
  o.slot = slot;
  o.user = user;
  o.inner = *inner;
  o.same = a.dnnl_memory_desc_equal(&o.user, &o.inner) != 0;
  o.inner_bytes = a.dnnl_memory_desc_get_size(&o.inner);
  if (!ok(a.dnnl_memory_create(&o.user_mem, &o.user, a.engine, DNNL_MEMORY_NONE))) return false;
  if (!ok(a.dnnl_memory_create(&o.inner_mem, &o.inner, a.engine, DNNL_MEMORY_NONE))) return false;
  if (o.same && input) return true;
  // An output always has its plain reorder, also when the layouts agree: accumulation computes
  // into scratch and then adds, and the plain reorder is the copy-back of a blocked result.
  o.reorder = input ? make_reorder(a, o.user, o.inner, false) : make_reorder(a, o.inner, o.user, false);
  return o.reorder != nullptr;
}

// Builds the plan for one direction and geometry; plan.ok stays false if oneDNN declines. With
// `bf16`, the primitive reads its two operands in bf16 and writes FP32: the input reorders that
// already turn our plain layout into oneDNN's blocked one also round them to bf16 (to nearest
// even, the precision policy's rounding: Conv2dGeometry::bf16_operands), so rounding costs no
// extra pass. A bf16 plan
// that only oneDNN's reference loops could run is declined (plan_for then uses the FP32 one).
void build(Plan& p, Op op, const Conv2dGeometry& g, bool bf16) {
  const Api& a = api();
  const dnnl_dims_t src{g.n, g.c, g.h, g.w}, dst{g.n, g.k, g.oh, g.ow};
  // Grouped weights are 5-d for oneDNN, [groups, k/groups, c/groups, r, s]: our [k, c/groups, r,
  // s] in the same memory order (goihw).
  const bool grouped = g.groups > 1;
  const int wei_dims = grouped ? 5 : 4;
  const dnnl_dims_t wei_plain{g.k, g.c, g.r, g.s};
  const dnnl_dims_t wei_grouped{g.groups, g.k_per_group(), g.c_per_group(), g.r, g.s};
  const auto& wei = grouped ? wei_grouped : wei_plain;
  // oneDNN counts dilation as the gap between taps: 0 is a plain convolution.
  const dnnl_dims_t strides{g.stride_h, g.stride_w}, dilates{g.dilation_h - 1, g.dilation_w - 1},
      pad_l{g.pad_h, g.pad_w};
  // oneDNN wants the padding on each side: the right one is whatever makes the output size add up
  // (the kernel spans dilation (r - 1) + 1 inputs).
  const dnnl_dims_t pad_r{(g.oh - 1) * g.stride_h + g.dilation_h * (g.r - 1) + 1 - g.h - g.pad_h,
                          (g.ow - 1) * g.stride_w + g.dilation_w * (g.s - 1) + 1 - g.w - g.pad_w};
  // The operands in `in`, the result in FP32; the forward hint of the backward primitives has
  // every tensor in `in` (the configuration oneDNN implements).
  const dnnl_data_type_t in = bf16 ? dnnl_bf16 : dnnl_f32;
  const auto type = [&](Op result) { return op == result ? dnnl_f32 : in; };
  dnnl_memory_desc_t src_any, wei_any, dst_any, src_hint, wei_hint, dst_hint, src_user, wei_user, dst_user;
  if (!ok(a.dnnl_memory_desc_init_by_tag(&src_any, 4, src, type(Op::BackwardData), dnnl_format_tag_any)) ||
      !ok(a.dnnl_memory_desc_init_by_tag(&wei_any, wei_dims, wei, type(Op::BackwardWeights), dnnl_format_tag_any)) ||
      !ok(a.dnnl_memory_desc_init_by_tag(&dst_any, 4, dst, type(Op::Forward), dnnl_format_tag_any)) ||
      !ok(a.dnnl_memory_desc_init_by_tag(&src_hint, 4, src, in, dnnl_format_tag_any)) ||
      !ok(a.dnnl_memory_desc_init_by_tag(&wei_hint, wei_dims, wei, in, dnnl_format_tag_any)) ||
      !ok(a.dnnl_memory_desc_init_by_tag(&dst_hint, 4, dst, in, dnnl_format_tag_any)) ||
      !ok(a.dnnl_memory_desc_init_by_tag(&src_user, 4, src, dnnl_f32, dnnl_nchw)) ||
      !ok(a.dnnl_memory_desc_init_by_tag(&wei_user, wei_dims, wei, dnnl_f32, grouped ? dnnl_goihw : dnnl_oihw)) ||
      !ok(a.dnnl_memory_desc_init_by_tag(&dst_user, 4, dst, dnnl_f32, dnnl_nchw)))
    return;

  dnnl_primitive_attr_t attr = nullptr;
  if (!ok(a.dnnl_primitive_attr_create(&attr))) return;
  a.dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);

  // The backward primitives need the forward one as a hint (it fixes the layouts they share).
  dnnl_convolution_desc_t fwd_desc, desc;
  dnnl_primitive_desc_t hint = nullptr, pd = nullptr;
  bool good;
  if (op == Op::Forward) {
    good = ok(a.dnnl_dilated_convolution_forward_desc_init(&fwd_desc, dnnl_forward_training, dnnl_convolution_direct,
                                                           &src_any, &wei_any, nullptr, &dst_any, strides, dilates,
                                                           pad_l, pad_r)) &&
           ok(a.dnnl_primitive_desc_create(&pd, &fwd_desc, attr, a.engine, nullptr));
  } else {
    good = ok(a.dnnl_dilated_convolution_forward_desc_init(&fwd_desc, dnnl_forward_training, dnnl_convolution_direct,
                                                           &src_hint, &wei_hint, nullptr, &dst_hint, strides, dilates,
                                                           pad_l, pad_r)) &&
           ok(a.dnnl_primitive_desc_create(&hint, &fwd_desc, nullptr, a.engine, nullptr));
    if (good && op == Op::BackwardData)
      good = ok(a.dnnl_dilated_convolution_backward_data_desc_init(&desc, dnnl_convolution_direct, &src_any,
                                                                   &wei_any, &dst_any, strides, dilates, pad_l,
                                                                   pad_r));
    else if (good)
      good = ok(a.dnnl_dilated_convolution_backward_weights_desc_init(&desc, dnnl_convolution_direct, &src_any,
                                                                      &wei_any, nullptr, &dst_any, strides, dilates,
                                                                      pad_l, pad_r));
    good = good && ok(a.dnnl_primitive_desc_create(&pd, &desc, attr, a.engine, hint));
  }
  a.dnnl_primitive_attr_destroy(attr);
  if (hint) a.dnnl_primitive_desc_destroy(hint);
  if (good && bf16) {
    // "ref:any" and the like: loops slower than any FP32 backend.
    const char* impl = nullptr;
    good = ok(a.dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl)) && impl &&
           std::strncmp(impl, "ref", 3) != 0;
  }
  if (!good) {
    if (pd) a.dnnl_primitive_desc_destroy(pd);
    return;
  }

  auto md = [&](dnnl_query_t what) { return a.dnnl_primitive_desc_query_md(pd, what, 0); };
  using detail::Scratch;
  if (op == Op::Forward) {
    good = init_operand(a, p.in[0], DNNL_ARG_SRC, Scratch::DnnlIn0, src_user, md(dnnl_query_src_md), true) &&
           init_operand(a, p.in[1], DNNL_ARG_WEIGHTS, Scratch::DnnlIn1, wei_user, md(dnnl_query_weights_md), true) &&
           init_operand(a, p.out, DNNL_ARG_DST, Scratch::DnnlOut, dst_user, md(dnnl_query_dst_md), false);
    p.n_in = 2;
  } else if (op == Op::BackwardData) {
    good = init_operand(a, p.in[0], DNNL_ARG_DIFF_DST, Scratch::DnnlIn0, dst_user, md(dnnl_query_diff_dst_md), true) &&
           init_operand(a, p.in[1], DNNL_ARG_WEIGHTS, Scratch::DnnlIn1, wei_user, md(dnnl_query_weights_md), true) &&
           init_operand(a, p.out, DNNL_ARG_DIFF_SRC, Scratch::DnnlOut, src_user, md(dnnl_query_diff_src_md), false);
    p.n_in = 2;
  } else {
    good = init_operand(a, p.in[0], DNNL_ARG_SRC, Scratch::DnnlIn0, src_user, md(dnnl_query_src_md), true) &&
           init_operand(a, p.in[1], DNNL_ARG_DIFF_DST, Scratch::DnnlIn1, dst_user, md(dnnl_query_diff_dst_md), true) &&
           init_operand(a, p.out, DNNL_ARG_DIFF_WEIGHTS, Scratch::DnnlOut, wei_user, md(dnnl_query_diff_weights_md),
                        false);
    p.n_in = 2;
  }
  const dnnl_memory_desc_t* pad_md = md(dnnl_query_scratchpad_md);
  p.pad_bytes = pad_md ? a.dnnl_memory_desc_get_size(pad_md) : 0;
  if (good && p.pad_bytes > 0) good = ok(a.dnnl_memory_create(&p.pad_mem, pad_md, a.engine, DNNL_MEMORY_NONE));
  good = good && ok(a.dnnl_primitive_create(&p.prim, pd));
  a.dnnl_primitive_desc_destroy(pd);
  p.ok = good;
}

// The plan for (op, geometry, threads, bf16), built on first use. Plans are never freed: there
// are a few dozen per model, and they must outlive every caller.
Plan* plan_for(Op op, const Conv2dGeometry& g, bool bf16) {
  static std::mutex mu;
  static std::map<Key, std::unique_ptr<Plan>> plans;
  const Key key{static_cast<int>(op), g.shape_key(), omp_get_max_threads(), bf16};
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = plans[key];
  if (!slot) {
    slot = std::make_unique<Plan>();
    build(*slot, op, g, bf16);
  }
  return slot->ok ? slot.get() : nullptr;
}

// The plan a call runs: bf16 arithmetic under the precision policy where this CPU has a bf16
// kernel for the geometry, else FP32 (runs_bf16() says which; when it is FP32 the entry point in
// conv2d.cpp has rounded the operands already, so the products are the same, at FP32 speed).
Plan* plan_for(Op op, const Conv2dGeometry& g) {
  if (g.bf16_operands) {
    if (Plan* p = plan_for(op, g, true)) return p;
  }
  return plan_for(op, g, false);
}

void check(dnnl_status_t s, const char* what, const Conv2dGeometry& g) {
  MINIDL_CHECK(s == dnnl_success, "conv2d (oneDNN): ", what, " failed with status ", static_cast<int>(s),
               " for input [", g.n, ", ", g.c, ", ", g.h, ", ", g.w, "], weight [", g.k, ", ", g.c_per_group(), ", ",
               g.r, ", ", g.s, "], groups ", g.groups, ", dilation ", g.dilation_h, "x", g.dilation_w);
}

// Runs a plan: inputs reordered into scratch where the layouts differ, the primitive, and the
// result reordered (or added) back into `out`.
void execute(Plan& p, const Conv2dGeometry& g, const void* const* inputs, void* out, bool accumulate) {
  const Api& a = api();
  std::lock_guard<std::mutex> lock(p.mu);
  dnnl_exec_arg_t args[5];
  int nargs = 0;
  for (int i = 0; i < p.n_in; ++i) {
    Operand& o = p.in[i];
    check(a.dnnl_memory_set_data_handle(o.user_mem, const_cast<void*>(inputs[i])), "set_data_handle", g);
    if (o.same) {
      args[nargs++] = {o.arg, o.user_mem};
      continue;
    }
    check(a.dnnl_memory_set_data_handle(o.inner_mem, detail::scratch_bytes(o.slot, o.inner_bytes)), "set_data_handle",
          g);
    const dnnl_exec_arg_t r[2] = {{DNNL_ARG_FROM, o.user_mem}, {DNNL_ARG_TO, o.inner_mem}};
    check(a.dnnl_primitive_execute(o.reorder, a.stream, 2, r), "input reorder", g);
    args[nargs++] = {o.arg, o.inner_mem};
  }
  Operand& o = p.out;
  const bool direct = o.same && !accumulate;
  check(a.dnnl_memory_set_data_handle(o.user_mem, out), "set_data_handle", g);
  check(a.dnnl_memory_set_data_handle(o.inner_mem, direct ? out : detail::scratch_bytes(o.slot, o.inner_bytes)),
        "set_data_handle", g);
  args[nargs++] = {o.arg, o.inner_mem};
  if (p.pad_mem) {
    check(a.dnnl_memory_set_data_handle(p.pad_mem, detail::scratch_bytes(detail::Scratch::DnnlPad, p.pad_bytes)),
          "set_data_handle", g);
    args[nargs++] = {DNNL_ARG_SCRATCHPAD, p.pad_mem};
  }
  check(a.dnnl_primitive_execute(p.prim, a.stream, nargs, args), "convolution", g);
  if (!direct) {
    if (accumulate && !o.reorder_sum) {
      o.reorder_sum = make_reorder(a, o.inner, o.user, true);
      MINIDL_CHECK(o.reorder_sum, "conv2d (oneDNN): could not create the accumulating reorder");
    }
    const dnnl_exec_arg_t r[2] = {{DNNL_ARG_FROM, o.inner_mem}, {DNNL_ARG_TO, o.user_mem}};
    check(a.dnnl_primitive_execute(accumulate ? o.reorder_sum : o.reorder, a.stream, 2, r), "output reorder", g);
  }
  check(a.dnnl_stream_wait(a.stream), "stream wait", g);
}

Op op_of(ConvDirection d) {
  return d == ConvDirection::Forward ? Op::Forward : d == ConvDirection::BackwardData ? Op::BackwardData
                                                                                        : Op::BackwardWeights;
}

}  // namespace

bool supports(ConvDirection d, const Conv2dGeometry& g) { return api().ok && plan_for(op_of(d), g) != nullptr; }
std::string unavailable_reason() { return api().why_not; }
// What the primitive of the plan that runs the call reads, as oneDNN reports it.
bool runs_bf16(ConvDirection d, const Conv2dGeometry& g) {
  const Plan* p = api().ok ? plan_for(op_of(d), g) : nullptr;
  return p && p->in[0].inner.data_type == dnnl_bf16;
}

void forward(Stream, const Conv2dGeometry& g, const float* x, const float* weight, const float* bias, float* y) {
  Plan* p = plan_for(Op::Forward, g);
  MINIDL_CHECK(p, "conv2d (oneDNN): forward called for a geometry it does not support");
  const void* in[2] = {x, weight};
  execute(*p, g, in, y, false);
  if (!bias) return;
  const std::int64_t ohw = g.oh * g.ow;
#pragma omp parallel for schedule(static) if (g.n * g.k * ohw >= detail::kParallelGrain)
  for (std::int64_t i = 0; i < g.n * g.k; ++i) {
    const float b = bias[i % g.k];
    float* out = y + i * ohw;
#pragma omp simd
    for (std::int64_t j = 0; j < ohw; ++j) out[j] += b;
  }
}

void backward_data(Stream, const Conv2dGeometry& g, const float* dy, const float* weight, float* dx, bool accumulate) {
  Plan* p = plan_for(Op::BackwardData, g);
  MINIDL_CHECK(p, "conv2d (oneDNN): backward-data called for a geometry it does not support");
  const void* in[2] = {dy, weight};
  execute(*p, g, in, dx, accumulate);
}

void backward_filter(Stream, const Conv2dGeometry& g, const float* x, const float* dy, float* dweight,
                     bool accumulate) {
  Plan* p = plan_for(Op::BackwardWeights, g);
  MINIDL_CHECK(p, "conv2d (oneDNN): backward-filter called for a geometry it does not support");
  const void* in[2] = {x, dy};
  execute(*p, g, in, dweight, accumulate);
}

#else  // built without oneDNN's headers: a backend that supports nothing

bool supports(ConvDirection, const Conv2dGeometry&) { return false; }
std::string unavailable_reason() { return "built without oneDNN's headers (libdnnl-dev)"; }
bool runs_bf16(ConvDirection, const Conv2dGeometry&) { return false; }
void forward(Stream, const Conv2dGeometry&, const float*, const float*, const float*, float*) {
  MINIDL_FAIL("conv2d: this build has no oneDNN");
}
void backward_data(Stream, const Conv2dGeometry&, const float*, const float*, float*, bool) {
  MINIDL_FAIL("conv2d: this build has no oneDNN");
}
void backward_filter(Stream, const Conv2dGeometry&, const float*, const float*, float*, bool) {
  MINIDL_FAIL("conv2d: this build has no oneDNN");
}

#endif

ConvBackend<float> backend() { return {"onednn", supports, forward, backward_data, backward_filter}; }

}  // namespace minidl::kernels::cpu::onednn
