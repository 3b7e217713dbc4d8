// The Conv2d module: torch.nn.Conv2d's arguments (stride, padding, dilation, groups, bias), the
// parameter shapes they give, that forward passes them to conv2d, and the specs it refuses.
#include <catch2/catch.hpp>

#include "minidl/core/ops.h"
#include "minidl/core/rng.h"
#include "minidl/layers/conv.h"

using namespace minidl;
using Catch::Matchers::Contains;

TEST_CASE("Conv2d: parameter shapes follow torch.nn.Conv2d with dilation and groups", "[module]") {
  // torch.nn.Conv2d(6, 12, 3, stride=2, padding=2, dilation=2, groups=3, bias=True): weight
  // [12, 6 / 3, 3, 3], bias [12]; fan_in (for the init bounds) 2 * 3 * 3.
  Conv2d grouped(Conv2dSpec{6, 12, 3, 2, 2, 2, 3, true});
  CHECK(grouped.weight.shape() == Shape{12, 2, 3, 3});
  CHECK(grouped.bias.shape() == Shape{12});
  CHECK(grouped.num_parameters() == 12 * 2 * 3 * 3 + 12);
  // Depthwise (groups = in), no bias: one 3x3 filter per channel.
  Conv2d depthwise(Conv2dSpec{8, 8, 3, 1, 1, 1, 8, false});
  CHECK(depthwise.weight.shape() == Shape{8, 1, 3, 3});
  CHECK_FALSE(depthwise.bias.defined());
  CHECK(depthwise.named_parameters().size() == 1);

  // forward is conv2d with the spec's options: the same numbers as the op called directly.
  Generator gen(24);
  const Tensor x = Tensor::randn({2, 6, 9, 9}, gen);
  const Tensor y = grouped.forward(x);
  CHECK(y.shape() == Shape{2, 12, 5, 5});  // (9 + 2 * 2 - 2 * (3 - 1) - 1) / 2 + 1
  Conv2dOptions o;
  o.stride = {2, 2};
  o.padding = {2, 2};
  o.dilation = {2, 2};
  o.groups = 3;
  const auto want = conv2d(x, grouped.weight, grouped.bias, o).to_vector<float>();
  const auto got = y.to_vector<float>();
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == want[i]);
}

TEST_CASE("Conv2d: specs it refuses say which field and the order of the fields", "[module]") {
  CHECK_THROWS_WITH(Conv2d(Conv2dSpec{6, 12, 3, 1, 1, 1, 4}), Contains("groups 4") && Contains("divide"));
  CHECK_THROWS_WITH(Conv2d(Conv2dSpec{6, 9, 3, 1, 1, 1, 2}), Contains("groups 2") && Contains("divide"));
  // A spec written for the old field order {in, out, kernel, stride, padding, bias} puts
  // bias = false into dilation: refused, with the order spelled out.
  CHECK_THROWS_WITH(Conv2d(Conv2dSpec{3, 8, 3, 1, 1, false}),
                    Contains("dilation 0") && Contains("{in, out, kernel, stride, padding, dilation, groups, bias}"));
  CHECK_THROWS_WITH(Conv2d(Conv2dSpec{3, 8, 3, 1, 1, 1, 0}), Contains("groups 0"));
}
