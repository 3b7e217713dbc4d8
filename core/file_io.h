// Files written so that a crash or a full disk never leaves a half-written file where a whole
// one was: the bytes go to a temporary file beside the target, which is renamed over it.
// (Checkpoints have their own writer with the same contract, save_safetensors.)
#pragma once

#include <string>

namespace minidl {

// Writes text to path atomically (temporary file, then rename). Throws minidl::Error naming the
// file when it cannot.
void write_file_atomic(const std::string& path, const std::string& text);

}  // namespace minidl
