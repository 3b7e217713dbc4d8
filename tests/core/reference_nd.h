// The torch-named ops of issue 24 as plain loops in float64 over n-d index tuples, written from
// PyTorch's documentation (broadcasting semantics, torch.sum/max/softmax/matmul/permute/narrow/
// cat/stack/expand/index_select/gather, nn.functional.avg_pool2d/cross_entropy) and not from
// minidl's kernels: the op table's reference (op_table.h) for its rows in op_rows_*.cpp. Each
// returns the output's values in row-major order; the table takes the shape from the op.
// Dims are given as the op is called (negative dims count from the end).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "minidl/core/ops.h"
#include "minidl/core/tensor.h"

namespace minidl::test::reference {

// f(a[i], b[i]) over the broadcast of a's and b's shapes (torch's broadcasting semantics).
std::vector<double> broadcast2(const Tensor& a, const Tensor& b, const std::function<double(double, double)>& f);
// cond != 0 ? a : b, broadcasting all three.
std::vector<double> where(const Tensor& cond, const Tensor& a, const Tensor& b);

enum class Reduce { Sum, Mean, Max, Min, Argmax, Argmin };
// Over `dims` (all when empty); keepdim does not change the values' order, only the shape.
std::vector<double> reduce(const Tensor& x, std::vector<std::int64_t> dims, Reduce how);
std::vector<double> softmax(const Tensor& x, std::int64_t dim, bool log);

// torch.matmul: 1-d operands get a dim of 1 prepended (first) or appended (second), removed after;
// batch dims broadcast.
std::vector<double> matmul(const Tensor& a, const Tensor& b);

std::vector<double> permute(const Tensor& x, const std::vector<std::int64_t>& dims);
std::vector<double> narrow(const Tensor& x, std::int64_t dim, std::int64_t start, std::int64_t length);
std::vector<double> select(const Tensor& x, std::int64_t dim, std::int64_t index);
std::vector<double> cat(const std::vector<Tensor>& xs, std::int64_t dim);
std::vector<double> stack(const std::vector<Tensor>& xs, std::int64_t dim);
std::vector<double> expand(const Tensor& x, const Shape& shape);  // -1 keeps a size
std::vector<double> index_select(const Tensor& x, std::int64_t dim, const Tensor& index);
std::vector<double> gather(const Tensor& x, std::int64_t dim, const Tensor& index);

std::vector<double> avg_pool2d(const Tensor& x, const AvgPool2dOptions& o);
// Per sample, then reduced as `reduction` says (mean: divided by the targets' total weight).
std::vector<double> cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& weight, double smoothing,
                                  Reduction reduction);

}  // namespace minidl::test::reference
