// What the two devices' convolution tables (kernels/cpu/conv2d.cpp, kernels/cuda/conv2d.cu)
// share: the setting ("auto" or a backend's name, started from an environment variable), the
// lookup by name, and the fallback contract of kernels/conv2d.h. Each device keeps its own rows,
// its own auto rule and its own words for a backend that cannot run.
#pragma once

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "minidl/kernels/conv2d.h"

namespace minidl::kernels::conv_table {

inline const char* const kAuto = "auto";

// The row called `name`, or null.
template <typename Row>
const Row* find(const std::vector<Row>& table, const char* name) {
  for (const Row& r : table)
    if (std::strcmp(r.name, name) == 0) return &r;
  return nullptr;
}

// "auto, im2col, taps, ...": what a setting may say, for error messages.
template <typename Row>
std::string names(const std::vector<Row>& table) {
  std::string out = kAuto;
  for (const Row& r : table) out += std::string(", ") + r.name;
  return out;
}

// The setting: kAuto or a row's name, compared by address on every call. `checked` turns a
// name into that pointer or throws (`what` says where the name came from); the environment
// variable `env` gives the starting value.
class Setting {
 public:
  using Check = const char* (*)(const char* name, const char* what);
  Setting(const char* env, Check checked) : checked_(checked) {
    const char* v = std::getenv(env);
    value_ = v && *v ? checked(v, (std::string(env) + "=").c_str()) : kAuto;
  }
  void set(const std::string& name) { value_.store(checked_(name.c_str(), "set_conv_backend: ")); }
  const char* get() const { return value_.load(std::memory_order_relaxed); }

 private:
  Check checked_;
  std::atomic<const char*> value_{kAuto};
};

// The row that runs a call: the one the setting names (under auto, the one the device's rule
// `choose` names) when it supports the call, else the fallback, the first row, which supports
// every call.
template <typename Row>
const Row& row_for(const std::vector<Row>& table, const char* setting,
                        const char* (*choose)(ConvDirection, const Conv2dGeometry&), ConvDirection d,
                        const Conv2dGeometry& g) {
  const Row* r = conv_table::find(table, setting == kAuto ? choose(d, g) : setting);
  return r && r->supports(d, g) ? *r : table.front();
}

}  // namespace minidl::kernels::conv_table
