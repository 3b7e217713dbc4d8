// Checkpoints and test data in the safetensors format (https://github.com/huggingface/safetensors),
// the layout PyTorch users exchange weights in: an 8-byte little-endian header length N, N bytes
// of JSON naming each tensor's dtype, shape and byte range, then the raw little-endian data.
// minidl reads and writes F32, F64 and I64 tensors; docs/formats.md describes the layout and the
// metadata keys minidl uses.
#pragma once

#include <map>
#include <string>

#include "minidl/core/tensor.h"

namespace minidl {

// What a safetensors file holds. Ordered maps, so that writing the same contents twice gives
// the same bytes.
struct TensorFile {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;  // the header's "__metadata__"
};

// Writes tensors (from any device; GPU tensors are copied to the host) and string metadata to
// path, atomically: the bytes go to path + ".tmp.<pid>", are flushed to the disk, and the
// temporary file is renamed over path, so a crash at any moment leaves either the old file or
// the new one, never a partial one. Throws minidl::Error naming the file when it cannot write
// (missing directory, full disk) and leaves no temporary file behind.
// Concurrent saves to the same path from one process are not supported (they share the
// temporary name).
void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Reads a whole file; the tensors are on the CPU and do not require grad. Any file that is not a
// well-formed safetensors file of F32/F64/I64 tensors (truncated, a header that is not JSON, an
// unsupported dtype, byte ranges that do not match the shapes, overlap or leave holes...) gives
// a minidl::DataError naming the file and what is wrong. Any byte sequence is safe to pass.
TensorFile load_safetensors(const std::string& path);

// Reads and validates only the header, and returns its "__metadata__" (empty when absent).
std::map<std::string, std::string> read_safetensors_metadata(const std::string& path);

}  // namespace minidl
