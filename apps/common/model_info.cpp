#include "common/model_info.h"

#include <nlohmann/json.hpp>

#include "minidl/core/safetensors.h"
#include "minidl/data/dataset.h"

namespace minidl::app {

const std::vector<std::string>& ModelInfo::names() const {
  return class_names.empty() ? data::fer_class_names() : class_names;
}

std::map<std::string, std::string> ModelInfo::to_metadata() const {
  return {{"minidl.arch", arch},
          {"minidl.in_channels", std::to_string(in_channels)},
          {"minidl.width", std::to_string(width)},
          {"minidl.input_size", std::to_string(input_size)},
          {"minidl.class_names", nlohmann::json(names()).dump()},
          {"minidl.normalize", nlohmann::json{{"mean", mean}, {"std", std}}.dump()}};
}

ModelInfo ModelInfo::from_metadata(const std::map<std::string, std::string>& meta, std::int64_t num_classes_hint) {
  ModelInfo info;
  auto get = [&](const char* key) -> const std::string* {
    auto it = meta.find(key);
    return it == meta.end() ? nullptr : &it->second;
  };
  try {
    if (auto v = get("minidl.arch")) info.arch = *v;
    if (auto v = get("minidl.in_channels")) info.in_channels = std::stoll(*v);
    if (auto v = get("minidl.width")) info.width = std::stoll(*v);
    if (auto v = get("minidl.input_size")) info.input_size = std::stoll(*v);
    if (auto v = get("minidl.class_names")) info.class_names = nlohmann::json::parse(*v).get<std::vector<std::string>>();
    if (auto v = get("minidl.normalize")) {
      auto j = nlohmann::json::parse(*v);
      info.mean = j.at("mean").get<double>();
      info.std = j.at("std").get<double>();
    }
  } catch (const std::exception& e) {
    throw Error(detail::str("checkpoint metadata is malformed: ", e.what()));
  }
  MINIDL_CHECK(info.arch == "resnet18", "checkpoint: unsupported architecture '", info.arch, "' (expected resnet18)");
  MINIDL_CHECK(info.std > 0, "checkpoint: normalisation std must be positive");
  if (info.class_names.empty() && num_classes_hint > 0 && num_classes_hint != 7)
    for (std::int64_t c = 0; c < num_classes_hint; ++c) info.class_names.push_back("class " + std::to_string(c));
  return info;
}

std::shared_ptr<ResNet> ModelInfo::build() const { return resnet18(in_channels, num_classes(), width); }

LoadedModel load_model(const std::string& path) {
  TensorFile file = load_safetensors(path);
  // A bare state_dict tells its own shape: classes from fc.bias, width from conv1.weight.
  std::int64_t classes_hint = 0;
  if (auto it = file.tensors.find("fc.bias"); it != file.tensors.end() && it->second.dim() == 1)
    classes_hint = it->second.size(0);
  ModelInfo info = ModelInfo::from_metadata(file.metadata, classes_hint);
  if (!file.metadata.count("minidl.width"))
    if (auto it = file.tensors.find("conv1.weight"); it != file.tensors.end() && it->second.dim() == 4) {
      info.width = it->second.size(0);
      info.in_channels = it->second.size(1);
    }
  LoadedModel out{info.build(), info};
  try {
    out.model->load_state_dict(file.tensors);
  } catch (const Error& e) {
    throw Error(detail::str(path, ": ", e.what()));
  }
  out.model->eval();
  return out;
}

}  // namespace minidl::app
