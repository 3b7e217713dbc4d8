#include "common/model_info.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <set>

#include <nlohmann/json.hpp>

#include "common/escape.h"
#include "minidl/core/ops.h"
#include "minidl/core/safetensors.h"
#include "minidl/data/dataset.h"

namespace minidl::app {

namespace {

// A whole-string integer in [lo, hi]: "1e3", "64abc" and "" are refused, not read as 1 and 64.
std::int64_t metadata_int(const std::string& key, const std::string& v, std::int64_t lo, std::int64_t hi) {
  errno = 0;
  char* end = nullptr;
  const long long x = std::strtoll(v.c_str(), &end, 10);
  const bool whole = !v.empty() && end == v.c_str() + v.size() && errno == 0 && !std::isspace(static_cast<unsigned char>(v[0]));
  MINIDL_CHECK(whole && x >= lo && x <= hi, "checkpoint metadata ", key, ": expected an integer from ", lo, " to ", hi,
               ", got '", printable(v), "'");
  return x;
}

nlohmann::json metadata_json(const std::string& key, const std::string& v) {
  try {
    return nlohmann::json::parse(v);
  } catch (const std::exception& e) {
    MINIDL_FAIL("checkpoint metadata ", key, ": not valid JSON (", e.what(), ")");
  }
}

double metadata_number(const std::string& key, const nlohmann::json& j, const char* field, double lo, double hi) {
  MINIDL_CHECK(j.is_object() && j.contains(field) && j.at(field).is_number(), "checkpoint metadata ", key,
               ": expected {\"mean\": number, \"std\": number}, got ", j.dump());
  const double x = j.at(field).get<double>();
  MINIDL_CHECK(std::isfinite(x) && x >= lo && x <= hi, "checkpoint metadata ", key, ": ", field, " must be from ", lo,
               " to ", hi, ", got ", x);
  return x;
}

}  // namespace

const std::vector<std::string>& ModelInfo::names() const {
  return class_names.empty() ? data::fer_class_names() : class_names;
}

std::map<std::string, std::string> ModelInfo::to_metadata() const {
  nlohmann::json names_json = nlohmann::json::array();
  for (const auto& n : names()) names_json.push_back(bytes_to_json(n));
  return {{"minidl.arch", arch},
          {"minidl.in_channels", std::to_string(in_channels)},
          {"minidl.width", std::to_string(width)},
          {"minidl.input_size", std::to_string(input_size)},
          {"minidl.class_names", names_json.dump()},
          {"minidl.normalize", nlohmann::json{{"mean", mean}, {"std", std}}.dump()}};
}

ModelInfo ModelInfo::from_metadata(const std::map<std::string, std::string>& meta, std::int64_t num_classes_hint) {
  ModelInfo info;
  auto get = [&](const char* key) -> const std::string* {
    auto it = meta.find(key);
    return it == meta.end() ? nullptr : &it->second;
  };
  if (auto v = get("minidl.arch")) info.arch = *v;
  MINIDL_CHECK(info.arch == "resnet18", "checkpoint metadata minidl.arch: unsupported architecture '", printable(info.arch),
               "' (expected resnet18)");
  if (auto v = get("minidl.in_channels")) info.in_channels = metadata_int("minidl.in_channels", *v, 1, 1);
  if (auto v = get("minidl.width")) info.width = metadata_int("minidl.width", *v, 1, kMaxWidth);
  if (auto v = get("minidl.input_size")) info.input_size = metadata_int("minidl.input_size", *v, kMinInputSize, kMaxInputSize);
  if (auto v = get("minidl.class_names")) {
    const nlohmann::json j = metadata_json("minidl.class_names", *v);
    MINIDL_CHECK(j.is_array() && !j.empty(), "checkpoint metadata minidl.class_names: expected a non-empty list of names");
    std::set<std::string> seen;
    for (const auto& n : j) {
      info.class_names.push_back(bytes_from_json(n, "checkpoint metadata minidl.class_names"));
      MINIDL_CHECK(seen.insert(info.class_names.back()).second, "checkpoint metadata minidl.class_names: '",
                   printable(info.class_names.back()), "' is there twice");
    }
    info.has_class_names = true;
  }
  if (auto v = get("minidl.normalize")) {
    const nlohmann::json j = metadata_json("minidl.normalize", *v);
    // Pixels are scaled to [0, 1] first: a mean far outside it or a std near 0 only overflows.
    info.mean = metadata_number("minidl.normalize", j, "mean", -10, 10);
    info.std = metadata_number("minidl.normalize", j, "std", 1e-3, 1e3);
  }
  if (info.class_names.empty() && num_classes_hint > 0 && num_classes_hint != 7)
    for (std::int64_t c = 0; c < num_classes_hint; ++c) info.class_names.push_back("class " + std::to_string(c));
  return info;
}

std::shared_ptr<ResNet> ModelInfo::build() const { return resnet18(in_channels, num_classes(), width); }

std::string first_non_finite(const Module& model) {
  std::int64_t tensors = 0;
  std::string first;
  for (const auto& [name, t] : model.state_dict()) {
    if (!is_floating(t.dtype())) continue;
    const Tensor host = t.to(Device::cpu());  // tensors are always contiguous
    std::int64_t bad = 0;
    if (host.dtype() == DType::Float32)
      for (const float* p = host.data<float>(), *end = p + host.numel(); p != end; ++p) bad += !std::isfinite(*p);
    else
      for (const double* p = host.data<double>(), *end = p + host.numel(); p != end; ++p) bad += !std::isfinite(*p);
    if (bad == 0) continue;
    if (tensors++ == 0)
      first = detail::str("'", name, "' holds ", bad, " non-finite values (NaN or infinity) of ", host.numel());
  }
  if (tensors > 1) first += detail::str(", and ", tensors - 1, " more tensors hold some");
  return first;
}

LoadedModel load_model(const std::string& path) {
  TensorFile file = load_safetensors(path);
  // A training state (model.*, optimizer.* and rng) is not a model checkpoint, though it holds one.
  if (!file.tensors.empty() && !file.tensors.count("fc.bias") && file.tensors.count("model.fc.bias"))
    MINIDL_FAIL(path, ": this is a training state (train_state.safetensors, what --resume reads), not a model "
                      "checkpoint; give last.safetensors or best.safetensors from the same run folder");
  // A bare state_dict tells its own shape: classes from fc.bias, width from conv1.weight.
  std::int64_t classes_hint = 0;
  if (auto it = file.tensors.find("fc.bias"); it != file.tensors.end() && it->second.dim() == 1)
    classes_hint = it->second.size(0);
  ModelInfo info;
  try {
    info = ModelInfo::from_metadata(file.metadata, classes_hint);
  } catch (const Error& e) {
    throw Error(detail::str(path, ": ", e.what()));
  }
  MINIDL_CHECK(!info.has_class_names || classes_hint == 0 || info.num_classes() == classes_hint, path,
               ": checkpoint metadata minidl.class_names has ", info.num_classes(), " names but fc.bias has ",
               classes_hint, " classes");
  if (!file.metadata.count("minidl.width"))
    if (auto it = file.tensors.find("conv1.weight"); it != file.tensors.end() && it->second.dim() == 4) {
      info.width = it->second.size(0);
      info.in_channels = it->second.size(1);
      MINIDL_CHECK(info.in_channels == 1, path, ": conv1.weight takes ", info.in_channels,
                   " input channels; the apps feed 1-channel (grayscale) images");
      MINIDL_CHECK(info.width >= 1 && info.width <= ModelInfo::kMaxWidth, path, ": conv1.weight has ", info.width,
                   " output channels, expected 1 to ", ModelInfo::kMaxWidth);
    }
  LoadedModel out{info.build(), info};
  try {
    out.model->load_state_dict(file.tensors);
  } catch (const Error& e) {
    throw Error(detail::str(path, ": ", e.what()));
  }
  // A model whose weights or batch-norm statistics overflowed predicts nothing meaningful.
  const std::string bad = first_non_finite(*out.model);
  MINIDL_CHECK(bad.empty(), path, ": ", bad, "; the model diverged in training and cannot be used (take an earlier "
                                            "checkpoint, or train again with a lower --lr)");
  out.model->eval();
  return out;
}

}  // namespace minidl::app
