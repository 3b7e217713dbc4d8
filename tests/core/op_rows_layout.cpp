// The op table's rows (op_table.h) for the shape and indexing ops with torch's names: permute,
// transpose, expand, narrow, select, cat, stack, unsqueeze/squeeze, index_select and gather,
// each on a dim other than 0 (and a negative one) since dim 0 alone is what narrow0 used to do.
#include "minidl/core/ops.h"
#include "op_table.h"
#include "reference_nd.h"
#include "reference_ops.h"

namespace minidl::test {
namespace {

namespace ref = reference;

MINIDL_OP_ROWS(layout) {
  add_op_row(row("permute {2, 0, 1}", {in({2, 3, 4})}, [](const Args& a) { return permute(a[0], {2, 0, 1}); },
                 [](const Args& a) { return ref::permute(a[0], {2, 0, 1}); }));
  add_op_row(row("permute {0, -1, 1, 2} of 4-d", {in({2, 3, 2, 4})},
                 [](const Args& a) { return permute(a[0], {0, -1, 1, 2}); },
                 [](const Args& a) { return ref::permute(a[0], {0, -1, 1, 2}); }));
  add_op_row(row("transpose 0 -1", {in({2, 3, 4})}, [](const Args& a) { return transpose(a[0], 0, -1); },
                 [](const Args& a) { return ref::permute(a[0], {2, 1, 0}); }));
  add_op_row(row("expand [3, 1] to [2, 3, 4]", {in({3, 1})}, [](const Args& a) { return expand(a[0], {2, 3, 4}); },
                 [](const Args& a) { return ref::expand(a[0], {2, 3, 4}); }));
  add_op_row(row("expand with -1", {in({1, 3})}, [](const Args& a) { return expand(a[0], {4, -1}); },
                 [](const Args& a) { return ref::expand(a[0], {4, -1}); }));
  add_op_row(row("narrow dim 1", {in({2, 4, 3})}, [](const Args& a) { return narrow(a[0], 1, 1, 2); },
                 [](const Args& a) { return ref::narrow(a[0], 1, 1, 2); }));
  add_op_row(row("narrow dim -1", {in({2, 4, 3})}, [](const Args& a) { return narrow(a[0], -1, 0, 2); },
                 [](const Args& a) { return ref::narrow(a[0], -1, 0, 2); }));
  add_op_row(row("select dim 2 index -1", {in({2, 4, 3})}, [](const Args& a) { return select(a[0], 2, -1); },
                 [](const Args& a) { return ref::select(a[0], 2, -1); }));
  add_op_row(row("select dim 0", {in({3, 2})}, [](const Args& a) { return select(a[0], 0, 1); },
                 [](const Args& a) { return ref::select(a[0], 0, 1); }));
  // One input twice: its gradient is the sum of both parts.
  add_op_row(row("cat dim 1, an input twice", {in({2, 3, 2}), in({2, 1, 2})},
                 [](const Args& a) { return cat({a[0], a[1], a[0]}, 1); },
                 [](const Args& a) { return ref::cat({a[0], a[1], a[0]}, 1); }));
  add_op_row(row("cat dim -1", {in({2, 2}), in({2, 3})}, [](const Args& a) { return cat({a[0], a[1]}, -1); },
                 [](const Args& a) { return ref::cat({a[0], a[1]}, -1); }));
  add_op_row(row("stack dim -1", {in({2, 3}), in({2, 3})}, [](const Args& a) { return stack({a[0], a[1]}, -1); },
                 [](const Args& a) { return ref::stack({a[0], a[1]}, -1); }));
  add_op_row(row("stack dim 1 of three", {in({2, 3}), in({2, 3}), in({2, 3})},
                 [](const Args& a) { return stack({a[0], a[1], a[2]}, 1); },
                 [](const Args& a) { return ref::stack({a[0], a[1], a[2]}, 1); }));
  // unsqueeze and squeeze are views (reshapes): they feed a real kernel (mul), as flatten's row.
  add_op_row(row("unsqueeze then squeeze", {in({2, 3})},
                 [](const Args& a) { return mul(squeeze(unsqueeze(a[0], 1), 1), 2.0); },
                 [](const Args& a) { return ref::map(a[0], [](double v) { return 2 * v; }); }));
  add_op_row(row("squeeze every dim of size 1", {in({1, 3, 1, 2})}, [](const Args& a) { return mul(squeeze(a[0]), 2.0); },
                 [](const Args& a) { return ref::map(a[0], [](double v) { return 2 * v; }); }));
  add_op_row(row("unsqueeze -1", {in({2, 3})}, [](const Args& a) { return mul(unsqueeze(a[0], -1), 2.0); },
                 [](const Args& a) { return ref::map(a[0], [](double v) { return 2 * v; }); }));
}

// The indices are drawn (classes(shape, n): int64 in [0, n)), so repeats occur and their
// gradients must add up.
MINIDL_OP_ROWS(indexing) {
  add_op_row(row("index_select dim 1", {in({2, 3, 2}), classes({5}, 3)},
                 [](const Args& a) { return index_select(a[0], 1, a[1]); },
                 [](const Args& a) { return ref::index_select(a[0], 1, a[1]); }));
  add_op_row(row("index_select dim -1", {in({3, 4}), classes({6}, 4)},
                 [](const Args& a) { return index_select(a[0], -1, a[1]); },
                 [](const Args& a) { return ref::index_select(a[0], -1, a[1]); }));
  add_op_row(row("gather dim 1", {in({2, 3}), classes({2, 4}, 3)},
                 [](const Args& a) { return gather(a[0], 1, a[1]); },
                 [](const Args& a) { return ref::gather(a[0], 1, a[1]); }));
  add_op_row(row("gather dim 0 of 3-d", {in({3, 2, 2}), classes({4, 2, 2}, 3)},
                 [](const Args& a) { return gather(a[0], 0, a[1]); },
                 [](const Args& a) { return ref::gather(a[0], 0, a[1]); }));
}

}  // namespace
}  // namespace minidl::test
