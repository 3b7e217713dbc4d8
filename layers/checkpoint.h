// A module's state_dict in a safetensors file, with string metadata: the checkpoint format that
// PyTorch reads and writes too (its names are PyTorch's state_dict() names).
#pragma once

#include <map>
#include <string>

#include "minidl/layers/module.h"

namespace minidl {

// Atomic: a crash leaves the previous file or the new one, never a partial file.
void save_checkpoint(const Module& module, const std::string& path,
                     const std::map<std::string, std::string>& metadata = {});

// Loads path into module (see Module::load_state_dict) and returns the file's metadata.
std::map<std::string, std::string> load_checkpoint(Module& module, const std::string& path, bool strict = true);

}  // namespace minidl
