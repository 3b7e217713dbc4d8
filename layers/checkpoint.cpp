#include "minidl/layers/checkpoint.h"

#include "minidl/core/safetensors.h"

namespace minidl {

void save_checkpoint(const Module& module, const std::string& path, const std::map<std::string, std::string>& metadata) {
  std::map<std::string, Tensor> tensors;
  for (const auto& [name, t] : module.state_dict()) tensors[name] = t;
  save_safetensors(path, tensors, metadata);
}

std::map<std::string, std::string> load_checkpoint(Module& module, const std::string& path, bool strict) {
  TensorFile file = load_safetensors(path);
  try {
    module.load_state_dict(file.tensors, strict);
  } catch (const Error& e) {
    throw Error(detail::str(path, ": ", e.what()));
  }
  return file.metadata;
}

}  // namespace minidl
