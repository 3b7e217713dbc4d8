// One table of the ops, as ggml's tests/test-backend-ops.cpp has: each op is registered once,
// with its arguments' shapes, and that one row becomes three tests (op_table.cpp):
//
//   op NAME: gradient (float64)      backward against central differences, every input that
//                                    requires grad, fresh gradients pre-filled with +inf, and
//                                    accumulation into existing ones (gradcheck.h)
//   op NAME: against the reference   forward in float64 and float32 against plain loops in
//                                    float64 (the row's reference), and the float32 gradients
//                                    against the float64 ones (the float32 backward kernels are
//                                    other code: oneDNN, tap GEMMs)
//   op NAME: CUDA against the CPU    the same inputs as CUDA tensors through core/ops, forward
//                                    and backward, against the CPU (float32); skipped without a
//                                    GPU (a GPU, or the CUDA emulator's build)
//
// Adding an op takes one row in op_rows.cpp: a name, the arguments, the call, and (when the op
// is a new computation rather than a composition) a reference. docs/adding-an-op.md shows one.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "gradcheck.h"
#include "minidl/core/rng.h"
#include "minidl/core/tensor.h"

namespace minidl::test {

// How an argument's values are drawn. Gradient checks and reference comparisons need inputs
// away from an op's non-smooth points (relu's 0, max pool's ties), so rows say which they need.
enum class Fill {
  Normal,        // randn
  AwayFromZero,  // randn with |x| >= 0.05 (relu)
  Distinct,      // values at least 1e-2 apart, shuffled (max pool: no ties)
  Positive,      // uniform in [0.5, 2] (variances, class weights)
  Classes,       // int64 class indices in [0, classes) (targets); never requires grad
};

struct Arg {
  Shape shape;
  Fill fill = Fill::Normal;
  bool requires_grad = true;
  std::int64_t classes = 0;  // Fill::Classes only
};

// Shorthands for the table.
inline Arg in(Shape s, Fill f = Fill::Normal) { return {std::move(s), f, true, 0}; }
inline Arg constant(Shape s, Fill f = Fill::Normal) { return {std::move(s), f, false, 0}; }
inline Arg classes(Shape s, std::int64_t n) { return {std::move(s), Fill::Classes, false, n}; }
inline Arg none() { return {{}, Fill::Normal, false, -1}; }  // an optional argument left out (an undefined Tensor)

// |a - b| <= rtol * |b| + atol * max|b|, element by element.
struct Tol {
  double rtol, atol;
};

using Args = std::vector<Tensor>;

struct OpRow {
  std::string name;  // unique: the op and what is particular about this row ("conv2d 3x3 s2 p1 bias")
  std::vector<Arg> args;
  // The op through core/ops, on whatever device and dtype the arguments have.
  std::function<Tensor(const Args&)> op;
  // The op's forward as plain loops over the float64 CPU arguments' values; empty for rows that
  // compose ops that have rows of their own (they get the gradient and CUDA tests only).
  std::function<std::vector<double>(const Args&)> reference;
  // Adjusts the drawn float64 arguments in place where the Fills cannot say it alone (add_relu:
  // the sum of two arguments kept off 0).
  std::function<void(Args&)> prepare;
  GradcheckOptions gradcheck{};
  bool run_gradcheck = true;    // off for rows too large for central differences
  Tol float32{1e-5, 2e-6};      // float32 forward vs the reference, and float32 vs float64 gradients
  Tol cuda{1e-4, 1e-5};         // CUDA vs CPU, forward and gradients
};

// A row with the defaults: a name, the arguments, the call and (optionally) the reference.
inline OpRow row(std::string name, std::vector<Arg> args, std::function<Tensor(const Args&)> op,
                 std::function<std::vector<double>(const Args&)> reference = {}) {
  OpRow r;
  r.name = std::move(name);
  r.args = std::move(args);
  r.op = std::move(op);
  r.reference = std::move(reference);
  return r;
}

// Adds a row and registers its tests (the row files call it at static-initialisation time,
// through MINIDL_OP_ROWS). A name used twice is an error.
void add_op_row(OpRow row);

// The arguments of a row, drawn from seed: float64 CPU tensors (requires_grad as the row says).
Args make_args(const OpRow& row, std::uint64_t seed);
// The same values on another device / dtype (int64 arguments keep their dtype), requires_grad kept.
Args convert_args(const Args& args, Device device, DType dtype);

}  // namespace minidl::test

// Registers the rows in the braces, in a file of rows:  MINIDL_OP_ROWS(conv) { add_op_row({...}); }
#define MINIDL_OP_ROWS(group)                                 \
  static void minidl_op_rows_##group();                        \
  static const bool minidl_op_rows_registered_##group = [] {  \
    minidl_op_rows_##group();                                  \
    return true;                                               \
  }();                                                         \
  static void minidl_op_rows_##group()
