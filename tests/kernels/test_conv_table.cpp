// The rules both devices' convolution tables share (kernels/conv2d_table.h), on a table of rows
// that only record which one ran: the setting picks a row, auto asks the device's rule, and a
// row that does not support a call leaves it to the first row.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>
#include <vector>

#include "minidl/base/error.h"
#include "minidl/kernels/conv2d_table.h"

namespace k = minidl::kernels;
namespace table = minidl::kernels::conv_table;
using Catch::Matchers::Contains;

namespace {

struct FakeStream {};
using Row = k::ConvBackend<FakeStream, float>;

// Declines backward-filter, accepts the rest.
bool no_backward_filter(k::ConvDirection d, const k::Conv2dGeometry&) { return d != k::ConvDirection::BackwardFilter; }
bool nothing(k::ConvDirection, const k::Conv2dGeometry&) { return false; }
const char* rule_says_picky(k::ConvDirection, const k::Conv2dGeometry&) { return "picky"; }

const std::vector<Row>& rows() {
  static const std::vector<Row> t = {{"fallback", k::conv_supports_every_call, nullptr, nullptr, nullptr},
                                     {"picky", no_backward_filter, nullptr, nullptr, nullptr},
                                     {"absent", nothing, nullptr, nullptr, nullptr}};
  return t;
}

const char* checked(const char* name, const char* what) {
  if (std::string(name) == table::kAuto) return table::kAuto;
  const Row* r = table::find(rows(), name);
  MINIDL_CHECK(r, what, "'", name, "': expected one of ", table::names(rows()));
  return r->name;
}

std::string ran(const char* setting, k::ConvDirection d) {
  const k::Conv2dGeometry g{1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1};
  return table::row_for(rows(), setting, rule_says_picky, d, g).name;
}

}  // namespace

TEST_CASE("conv table: the named row runs what it supports, the first row the rest", "[kernels][conv]") {
  const char* picky = table::find(rows(), "picky")->name;
  CHECK(ran(picky, k::ConvDirection::Forward) == "picky");
  CHECK(ran(picky, k::ConvDirection::BackwardData) == "picky");
  CHECK(ran(picky, k::ConvDirection::BackwardFilter) == "fallback");
  CHECK(ran(table::find(rows(), "absent")->name, k::ConvDirection::Forward) == "fallback");
  // auto asks the device's rule, and its choice falls back the same way.
  CHECK(ran(table::kAuto, k::ConvDirection::Forward) == "picky");
  CHECK(ran(table::kAuto, k::ConvDirection::BackwardFilter) == "fallback");
}

TEST_CASE("conv table: the setting starts from its environment variable and checks every name", "[kernels][conv]") {
  CHECK(table::find(rows(), "winograd") == nullptr);
  CHECK(table::names(rows()) == "auto, fallback, picky, absent");
  ::unsetenv("MINIDL_TEST_CONV");
  table::Setting unset("MINIDL_TEST_CONV", checked);
  CHECK(std::string(unset.get()) == "auto");
  ::setenv("MINIDL_TEST_CONV", "picky", 1);
  table::Setting from_env("MINIDL_TEST_CONV", checked);
  CHECK(from_env.get() == table::find(rows(), "picky")->name);  // the table's own pointer
  from_env.set("fallback");
  CHECK(std::string(from_env.get()) == "fallback");
  REQUIRE_THROWS_WITH(from_env.set("winograd"),
                      Contains("set_conv_backend: 'winograd'") && Contains("expected one of auto, fallback"));
  CHECK(std::string(from_env.get()) == "fallback");
  ::setenv("MINIDL_TEST_CONV", "winograd", 1);
  REQUIRE_THROWS_WITH(table::Setting("MINIDL_TEST_CONV", checked), Contains("MINIDL_TEST_CONV='winograd'"));
  ::unsetenv("MINIDL_TEST_CONV");
}
