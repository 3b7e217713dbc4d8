// The op table's rows (op_table.h) for the reductions over dimensions with torch's names: sum
// and mean over one dim, several or all, with keepdim; max and min over a dim (the values; the
// gradient goes to the extreme) and over everything; argmax and argmin.
#include "minidl/core/ops.h"
#include "op_table.h"
#include "reference_nd.h"

namespace minidl::test {
namespace {

namespace ref = reference;
using F = Fill;
using Dims = std::vector<std::int64_t>;

MINIDL_OP_ROWS(reduce_dims) {
  for (const bool keep : {false, true}) {
    const std::string k = keep ? " keepdim" : "";
    add_op_row(row("sum dim 1" + k, {in({2, 3, 4})}, [keep](const Args& a) { return sum(a[0], 1, keep); },
                   [](const Args& a) { return ref::reduce(a[0], {1}, ref::Reduce::Sum); }));
    add_op_row(row("sum dims {0, -1}" + k, {in({2, 3, 4})},
                   [keep](const Args& a) { return sum(a[0], Dims{0, -1}, keep); },
                   [](const Args& a) { return ref::reduce(a[0], {0, -1}, ref::Reduce::Sum); }));
    add_op_row(row("mean dim -1" + k, {in({2, 3, 4})}, [keep](const Args& a) { return mean(a[0], -1, keep); },
                   [](const Args& a) { return ref::reduce(a[0], {-1}, ref::Reduce::Mean); }));
    add_op_row(row("mean dims {0, 2}" + k, {in({3, 2, 4})},
                   [keep](const Args& a) { return mean(a[0], Dims{0, 2}, keep); },
                   [](const Args& a) { return ref::reduce(a[0], {0, 2}, ref::Reduce::Mean); }));
    // Distinct values: no ties, so the gradient (to the one extreme) is defined.
    add_op_row(row("max dim 0" + k, {in({3, 4}, F::Distinct)},
                   [keep](const Args& a) { return std::get<0>(max(a[0], 0, keep)); },
                   [](const Args& a) { return ref::reduce(a[0], {0}, ref::Reduce::Max); }));
    add_op_row(row("min dim 1" + k, {in({3, 4, 2}, F::Distinct)},
                   [keep](const Args& a) { return std::get<0>(min(a[0], 1, keep)); },
                   [](const Args& a) { return ref::reduce(a[0], {1}, ref::Reduce::Min); }));
  }
  add_op_row(row("mean over all dims (an empty list)", {in({3, 2})},
                 [](const Args& a) { return mean(a[0], Dims{}); },
                 [](const Args& a) { return ref::reduce(a[0], {}, ref::Reduce::Mean); }));
  add_op_row(row("max over all", {in({3, 4}, F::Distinct)}, [](const Args& a) { return max(a[0]); },
                 [](const Args& a) { return ref::reduce(a[0], {}, ref::Reduce::Max); }));
  add_op_row(row("min over all", {in({3, 4}, F::Distinct)}, [](const Args& a) { return min(a[0]); },
                 [](const Args& a) { return ref::reduce(a[0], {}, ref::Reduce::Min); }));
  // The indices of max/min (int64, no gradient): their own rows, forward and CUDA only.
  for (const auto& [name, how, dim] : std::vector<std::tuple<std::string, ref::Reduce, std::int64_t>>{
           {"argmax dim 1", ref::Reduce::Argmax, 1}, {"argmin dim -1", ref::Reduce::Argmin, -1}}) {
    OpRow r = row(name, {constant({3, 5, 4}, F::Distinct)},
                  [how = how, dim = dim](const Args& a) {
                    return how == ref::Reduce::Argmax ? argmax(a[0], dim) : argmin(a[0], dim);
                  },
                  [how = how, dim = dim](const Args& a) { return ref::reduce(a[0], {dim}, how); });
    r.run_gradcheck = false;
    add_op_row(std::move(r));
  }
}

}  // namespace
}  // namespace minidl::test
