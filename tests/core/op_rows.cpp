// The op table's rows (op_table.h): every op of core/ops.h with the shapes it is tested at. A
// row: a unique name, the arguments (in(shape) requires grad; constant(shape) does not; none()
// is an optional argument left out; Fill says how values are drawn), the call through core/ops,
// and the reference loops (reference_ops.h) where the op computes something new.
#include "minidl/core/ops.h"
#include "op_table.h"
#include "reference_nd.h"
#include "reference_ops.h"

namespace minidl::test {
namespace {

namespace ref = reference;
using F = Fill;

// ----- convolution -----
// Small rows for the gradient checks, and rows large enough that the float32 fast paths run
// (oneDNN on large maps, the tap GEMMs on 2x2 maps at batch 32; im2col + GEMM for the rest).
void conv(const std::string& name, Arg x, Arg w, Arg b, Conv2dOptions o, bool grad = true) {
  OpRow r;
  r.name = "conv2d " + name;
  r.args = {std::move(x), std::move(w), std::move(b)};
  r.op = [o](const Args& a) { return conv2d(a[0], a[1], a[2], o); };
  r.reference = [o](const Args& a) { return ref::conv2d(a[0], a[1], a[2], o.stride, o.padding, o.dilation, o.groups); };
  r.run_gradcheck = grad;
  add_op_row(std::move(r));
}

MINIDL_OP_ROWS(conv) {
  conv("3x3 s1 p1 bias", in({2, 3, 5, 4}), in({4, 3, 3, 3}), in({4}), {{1, 1}, {1, 1}});
  conv("7x7 s2 p3 one input channel", in({2, 1, 9, 8}), in({3, 1, 7, 7}), none(), {{2, 2}, {3, 3}});
  conv("1x1 s2 (downsample)", in({2, 4, 5, 5}), in({3, 4, 1, 1}), none(), {{2, 2}, {0, 0}});
  conv("2x3 s(1,2) p(1,0) bias", in({1, 2, 4, 7}), in({2, 2, 2, 3}), in({2}), {{1, 2}, {1, 0}});
  conv("3x3 input without grad", constant({2, 2, 4, 4}), in({3, 2, 3, 3}), none(), {{1, 1}, {1, 1}});
  conv("3x3 16 channels on 16x16 (oneDNN path)", in({2, 16, 16, 16}), in({16, 16, 3, 3}), in({16}), {{1, 1}, {1, 1}},
       false);
  conv("3x3 on 2x2 maps at batch 32 (tap GEMM path)", in({32, 8, 2, 2}), in({8, 8, 3, 3}), none(), {{1, 1}, {1, 1}},
       false);
  // Groups and dilation: {stride, padding, dilation, groups}.
  conv("3x3 depthwise (groups = c = k) bias", in({2, 4, 5, 6}), in({4, 1, 3, 3}), in({4}), {{1, 1}, {1, 1}, {1, 1}, 4});
  conv("3x3 depthwise multiplier 2 (groups = c, k = 2c) s2", in({2, 3, 7, 6}), in({6, 1, 3, 3}), none(),
       {{2, 2}, {1, 1}, {1, 1}, 3});
  conv("2x3 groups 2 bias", in({2, 4, 5, 5}), in({6, 2, 2, 3}), in({6}), {{1, 1}, {0, 1}, {1, 1}, 2});
  conv("3x3 dilation 2 s2 p2", in({2, 3, 9, 8}), in({4, 3, 3, 3}), in({4}), {{2, 2}, {2, 2}, {2, 2}, 1});
  conv("3x2 dilation (2,3) s(1,2) p(1,2) groups 2", in({1, 4, 8, 9}), in({4, 2, 3, 2}), none(),
       {{1, 2}, {1, 2}, {2, 3}, 2});
  // Large enough for the float32 fast paths to be asked (oneDNN's grouped and dilated
  // convolutions; taps declines both and the fallback runs).
  conv("3x3 depthwise 16 channels on 16x16 (oneDNN path)", in({2, 16, 16, 16}), in({16, 1, 3, 3}), in({16}),
       {{1, 1}, {1, 1}, {1, 1}, 16}, false);
  conv("3x3 groups 4 dilation 2 on 2x2 maps at batch 32 (taps declines)", in({32, 8, 2, 2}), in({8, 2, 3, 3}), none(),
       {{1, 1}, {2, 2}, {2, 2}, 4}, false);
}

// ----- batch norm -----
void bn(const std::string& name, Shape x, bool training, bool affine) {
  const std::int64_t c = x[1];
  OpRow r;
  r.name = "batch_norm " + name;
  r.args = {in(std::move(x)), constant({c}), constant({c}, F::Positive), affine ? in({c}) : none(), affine ? in({c}) : none()};
  r.op = [training](const Args& a) { return batch_norm(a[0], a[1], a[2], a[3], a[4], training, 0.1, 1e-5); };
  r.reference = [training](const Args& a) { return ref::batch_norm(a[0], a[1], a[2], a[3], a[4], training, 1e-5); };
  add_op_row(std::move(r));
}

MINIDL_OP_ROWS(batch_norm) {
  bn("training 4-d", {4, 3, 3, 2}, true, true);
  bn("training 2-d", {5, 3}, true, true);
  bn("evaluation", {2, 3, 2, 2}, false, true);
  bn("training without affine parameters", {3, 2, 2, 3}, true, false);
}

// batch_norm_relu: the reference is relu of batch_norm's. The drawn inputs put no output within
// the gradient check's step of ReLU's kink (the check would fail on the row if one did).
void bn_relu(const std::string& name, Shape x, bool training, bool affine) {
  const std::int64_t c = x[1];
  OpRow r;
  r.name = "batch_norm_relu " + name;
  r.args = {in(std::move(x)), constant({c}), constant({c}, F::Positive), affine ? in({c}) : none(), affine ? in({c}) : none()};
  r.op = [training](const Args& a) { return batch_norm_relu(a[0], a[1], a[2], a[3], a[4], training, 0.1, 1e-5); };
  r.reference = [training](const Args& a) {
    std::vector<double> y = ref::batch_norm(a[0], a[1], a[2], a[3], a[4], training, 1e-5);
    for (double& v : y) v = v > 0 ? v : 0.0;
    return y;
  };
  add_op_row(std::move(r));
}

MINIDL_OP_ROWS(batch_norm_relu) {
  bn_relu("training 4-d", {4, 3, 3, 2}, true, true);
  bn_relu("evaluation", {2, 3, 2, 2}, false, true);
  bn_relu("training without affine parameters", {3, 2, 2, 3}, true, false);
}

// ----- pooling -----
MINIDL_OP_ROWS(pool) {
  for (const auto& [name, shape, o] : std::vector<std::tuple<std::string, Shape, MaxPool2dOptions>>{
           {"3x3 s2 p1 (the stem)", {2, 3, 7, 6}, {{3, 3}, {2, 2}, {1, 1}}}, {"2x2", {1, 2, 4, 5}, {{2, 2}, {0, 0}, {0, 0}}}}) {
    OpRow r;
    r.name = "max_pool2d " + name;
    r.args = {in(shape, F::Distinct)};  // no ties: the gradient is defined
    r.op = [o = o](const Args& a) { return max_pool2d(a[0], o); };
    r.reference = [o = o](const Args& a) {
      return ref::max_pool2d(a[0], o.kernel_size, o.stride[0] ? o.stride : o.kernel_size, o.padding);  // 0: the kernel's
    };
    add_op_row(std::move(r));
  }
  for (const auto& [name, shape, out] : std::vector<std::tuple<std::string, Shape, std::array<std::int64_t, 2>>>{
           {"to 1x1", {2, 3, 4, 3}, {1, 1}}, {"5x7 to 3x2 (uneven windows)", {1, 2, 5, 7}, {3, 2}}}) {
    OpRow r;
    r.name = "adaptive_avg_pool2d " + name;
    r.args = {in(shape)};
    r.op = [out = out](const Args& a) { return adaptive_avg_pool2d(a[0], out); };
    r.reference = [out = out](const Args& a) { return ref::adaptive_avg_pool2d(a[0], out); };
    add_op_row(std::move(r));
  }
  for (const auto& [name, o] : std::vector<std::pair<std::string, AvgPool2dOptions>>{
           {"2x2", {{2, 2}, {0, 0}, {0, 0}, true}},
           {"3x3 s2 p1 count_include_pad", {{3, 3}, {2, 2}, {1, 1}, true}},
           {"3x3 s2 p1 without the padding in the count", {{3, 3}, {2, 2}, {1, 1}, false}},
           {"2x3 s(3,1) p1", {{2, 3}, {3, 1}, {1, 1}, false}}}) {
    OpRow r;
    r.name = "avg_pool2d " + name;
    r.args = {in({2, 2, 5, 6})};
    r.op = [o = o](const Args& a) { return avg_pool2d(a[0], o); };
    r.reference = [o = o](const Args& a) { return ref::avg_pool2d(a[0], o); };
    add_op_row(std::move(r));
  }
}

// ----- linear, elementwise, reductions, views -----
MINIDL_OP_ROWS(dense) {
  add_op_row(row("linear", {in({3, 5}), in({4, 5}), in({4})},
              [](const Args& a) { return linear(a[0], a[1], a[2]); },
              [](const Args& a) { return ref::linear(a[0], a[1], a[2]); }));
  add_op_row(row("linear without bias", {in({2, 3}), in({2, 3})}, [](const Args& a) { return linear(a[0], a[1]); },
              [](const Args& a) { return ref::linear(a[0], a[1], Tensor()); }));
  add_op_row(row("relu", {in({3, 4, 2}, F::AwayFromZero)}, [](const Args& a) { return relu(a[0]); },
              [](const Args& a) { return ref::map(a[0], [](double v) { return v > 0 ? v : 0.0; }); }));
  add_op_row(row("add", {in({2, 3, 2}), in({2, 3, 2})}, [](const Args& a) { return add(a[0], a[1]); },
              [](const Args& a) { return ref::map2(a[0], a[1], [](double u, double v) { return u + v; }); }));
  add_op_row(row("add of a tensor to itself", {in({5})}, [](const Args& a) { return add(a[0], a[0]); },
              [](const Args& a) { return ref::map(a[0], [](double v) { return 2 * v; }); }));
  add_op_row(row("mul by a scalar", {in({4, 3})}, [](const Args& a) { return mul(a[0], -2.5); },
              [](const Args& a) { return ref::map(a[0], [](double v) { return -2.5 * v; }); }));
  add_op_row(row("sum", {in({3, 4})}, [](const Args& a) { return sum(a[0]); }, [](const Args& a) {
                const auto v = ref::map(a[0], [](double x) { return x; });
                double s = 0;
                for (double x : v) s += x;
                return std::vector<double>{s};
              }));
  add_op_row(row("mean", {in({2, 2, 3})}, [](const Args& a) { return mean(a[0]); }, [](const Args& a) {
                const auto v = ref::map(a[0], [](double x) { return x; });
                double s = 0;
                for (double x : v) s += x;
                return std::vector<double>{s / static_cast<double>(v.size())};
              }));
  // torch.matmul's cases: 2-d, batched, a batch broadcast against a matrix or another batch
  // shape, and the 1-d forms (a dim of size 1 added, then removed).
  for (const auto& [sa, sb] : std::vector<std::pair<Shape, Shape>>{{{3, 4}, {4, 2}},
                                                                   {{2, 3, 4}, {2, 4, 5}},
                                                                   {{2, 3, 4}, {4, 5}},
                                                                   {{3, 4}, {2, 4, 5}},
                                                                   {{2, 1, 3, 4}, {3, 4, 2}},
                                                                   {{4}, {4, 3}},
                                                                   {{3, 4}, {4}},
                                                                   {{4}, {4}}}) {
    add_op_row(row("matmul " + shape_str(sa) + " " + shape_str(sb), {in(sa), in(sb)},
                   [](const Args& a) { return matmul(a[0], a[1]); },
                   [](const Args& a) { return ref::matmul(a[0], a[1]); }));
  }
  // Views feed a real kernel (mul) so that their backward is exercised.
  add_op_row(row("flatten", {in({2, 3, 2, 2})}, [](const Args& a) { return mul(flatten(a[0], 1), 3.0); },
              [](const Args& a) { return ref::map(a[0], [](double v) { return 3 * v; }); }));
  add_op_row(row("reshape", {in({2, 3, 2})}, [](const Args& a) { return mul(a[0].reshape({3, -1}), 1.5); },
              [](const Args& a) { return ref::map(a[0], [](double v) { return 1.5 * v; }); }));
}

// add_relu: a + b kept off relu's kink at 0.
MINIDL_OP_ROWS(add_relu) {
  OpRow r;
  r.name = "add_relu";
  r.args = {in({2, 3, 2}), in({2, 3, 2}, F::AwayFromZero)};
  r.prepare = [](Args& a) {  // b drawn away from 0, then b - a: the sum a + b is what was drawn
    double* b = a[1].data<double>();
    const double* x = a[0].data<double>();
    for (std::int64_t i = 0; i < a[1].numel(); ++i) b[i] -= x[i];
  };
  r.op = [](const Args& a) { return add_relu(a[0], a[1]); };
  r.reference = [](const Args& a) {
    return ref::map2(a[0], a[1], [](double u, double v) { return u + v > 0 ? u + v : 0.0; });
  };
  add_op_row(std::move(r));
}

// ----- softmax and loss -----
MINIDL_OP_ROWS(loss) {
  add_op_row(row("log_softmax", {in({4, 7})}, [](const Args& a) { return log_softmax(a[0], 1); },
              [](const Args& a) { return ref::log_softmax(a[0]); }));
  for (const std::int64_t d : {0, 1, 2, -1}) {
    const std::string on = " on dim " + std::to_string(d) + " of 3-d";
    add_op_row(row("softmax" + on, {in({2, 3, 4})}, [d](const Args& a) { return softmax(a[0], d); },
                   [d](const Args& a) { return ref::softmax(a[0], d, false); }));
    add_op_row(row("log_softmax" + on, {in({2, 3, 4})}, [d](const Args& a) { return log_softmax(a[0], d); },
                   [d](const Args& a) { return ref::softmax(a[0], d, true); }));
  }
  struct Case {
    std::string name;
    bool weighted;
    double smoothing;
    Reduction reduction;
  };
  for (const Case& c : {Case{"", false, 0.0, Reduction::Mean},
                        Case{" with class weights and label smoothing", true, 0.1, Reduction::Mean},
                        Case{" with label smoothing", false, 0.3, Reduction::Mean},
                        Case{" reduction none", false, 0.0, Reduction::None},
                        Case{" reduction none with class weights and label smoothing", true, 0.2, Reduction::None},
                        Case{" reduction sum with class weights and label smoothing", true, 0.2, Reduction::Sum}}) {
    OpRow r;
    r.name = "cross_entropy" + c.name;
    r.args = {in({5, 7}), classes({5}, 7), c.weighted ? constant({7}, F::Positive) : none()};
    r.op = [c](const Args& a) { return cross_entropy(a[0], a[1], {a[2], c.smoothing, c.reduction}); };
    r.reference = [c](const Args& a) { return ref::cross_entropy(a[0], a[1], a[2], c.smoothing, c.reduction); };
    add_op_row(std::move(r));
  }
}

// ----- composite: the ops chained as in a BasicBlock -----
// No reference (its parts have theirs); the gradient check covers the engine's accumulation
// through a branch (x feeds both the convolution and the shortcut).
MINIDL_OP_ROWS(block) {
  OpRow r;
  r.name = "residual block";  // conv, batch_norm, relu, add_relu, pool, linear, cross_entropy
  r.args = {in({2, 2, 3, 3}), in({2, 2, 3, 3}), in({2}), in({2}), in({3, 2}), in({3}), classes({2}, 3)};
  r.op = [](const Args& a) {
    Tensor h = relu(batch_norm(conv2d(a[0], a[1], Tensor(), {{1, 1}, {1, 1}}), Tensor(), Tensor(), a[2], a[3], true));
    Tensor y = add_relu(h, a[0]);
    Tensor p = flatten(adaptive_avg_pool2d(y, {1, 1}), 1);
    return cross_entropy(linear(p, a[4], a[5]), a[6]);
  };
  r.gradcheck = {1e-6, 1e-6, 1e-4};
  add_op_row(std::move(r));
}

}  // namespace
}  // namespace minidl::test
