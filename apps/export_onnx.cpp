// export_onnx: a checkpoint as an ONNX model (opset 17 by default), for onnxruntime, OpenCV's
// DNN module and the other runtimes that read ONNX. The graph takes float[N, 1, H, W] already
// normalised; how to normalise (and the class names) is in the model's metadata_props.
#include <CLI/CLI.hpp>

#include <cstdio>

#include <nlohmann/json.hpp>

#include "common/model_info.h"
#include "minidl/config.h"
#include "minidl/models/onnx_export.h"

using namespace minidl;
using namespace minidl::app;

int main(int argc, char** argv) {
  std::string checkpoint, out;
  int opset = 17;
  CLI::App app{"Export a checkpoint as an ONNX model (inference mode: batch norm uses its running statistics).\n"
               "Input `input`: float[N, 1, H, W], N dynamic, pixels already normalised as metadata_props say:\n"
               "x = (pixel / 255 - mean) / std. Output `logits`: float[N, classes] (softmax not applied)."};
  app.set_version_flag("--version", MINIDL_VERSION);
  app.add_option("--checkpoint", checkpoint, "A .safetensors checkpoint (minidl's, or a PyTorch state_dict of the model)")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--out", out, "The .onnx file to write (atomically)")->required();
  app.add_option("--opset", opset, "ONNX operator set version")->capture_default_str()->check(CLI::Range(15, 21));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    const LoadedModel loaded = load_model(checkpoint);
    const ModelInfo& info = loaded.info;
    OnnxExportOptions o;
    o.input_height = o.input_width = info.input_size;
    o.opset = opset;
    o.doc_string = "minidl " + info.arch + " (width " + std::to_string(info.width) + ") exported from " + checkpoint;
    // The checkpoint's own metadata, and plain keys any runtime's user can read without knowing minidl.
    o.metadata = info.to_metadata();
    o.metadata["class_names"] = nlohmann::json(info.names()).dump();
    o.metadata["input_layout"] = "NCHW, 1 channel (grayscale, ITU-R BT.601 luma), " + std::to_string(info.input_size) +
                                 "x" + std::to_string(info.input_size);
    char norm[160];
    std::snprintf(norm, sizeof norm, "x = (pixel / 255 - %.9g) / %.9g", info.mean, info.std);
    o.metadata["normalization"] = norm;
    o.metadata["output"] = "logits (apply softmax for probabilities)";
    export_onnx(*loaded.model, out, o);
    std::printf("wrote %s (opset %d, input [N, %lld, %lld, %lld], %zu classes)\n", out.c_str(), opset,
                static_cast<long long>(info.in_channels), static_cast<long long>(info.input_size),
                static_cast<long long>(info.input_size), info.names().size());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
