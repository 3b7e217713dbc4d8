// ONNX export of a ResNet, in inference mode: the graph other runtimes (onnxruntime, OpenCV's
// DNN module, TensorRT...) load. Written with our own protobuf encoder (core/protobuf.h), so
// exporting needs no protobuf or ONNX library (docs/decisions.md).
//
// The graph: input `input` of type float[N, C, H, W] with N dynamic ("batch"), torchvision's
// ResNet as ONNX operators (Conv, BatchNormalization with the running statistics, Relu,
// MaxPool, Add, GlobalAveragePool, Flatten, Gemm), output `logits` float[N, classes].
// Initializers keep the state_dict names (`layer2.0.downsample.1.running_var`). Input
// preprocessing is not in the graph: say what the model expects in `metadata` (ModelProto's
// metadata_props).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "minidl/models/resnet.h"

namespace minidl {

struct OnnxExportOptions {
  std::int64_t input_height = 64;
  std::int64_t input_width = 64;
  int opset = 17;                                 // the ai.onnx operator set (17 to 21 carry these ops unchanged)
  std::string graph_name = "resnet18";
  std::string doc_string;
  std::map<std::string, std::string> metadata;    // written as metadata_props
};

// The serialized ModelProto.
std::string onnx_model_bytes(const ResNet& model, const OnnxExportOptions& options);
// Writes it to `path` atomically (a temporary file beside it, then a rename).
void export_onnx(const ResNet& model, const std::string& path, const OnnxExportOptions& options);

}  // namespace minidl
