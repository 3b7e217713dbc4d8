// What an app needs to know about a trained model beyond its weights: architecture options,
// class names and preprocessing. Stored as strings in the checkpoint's safetensors metadata
// ("minidl.*" keys, documented in docs/formats.md); a checkpoint without them (a bare PyTorch
// state_dict) gets the FER defaults: 7 FER classes, 64x64 input, pixel/255, width 64.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "minidl/models/resnet.h"

namespace minidl::app {

struct ModelInfo {
  // What the apps accept, here and for train_resnet's flags.
  static constexpr std::int64_t kMinInputSize = 28, kMaxInputSize = 1024, kMaxWidth = 1024;

  std::string arch = "resnet18";
  std::int64_t in_channels = 1;
  std::int64_t width = 64;
  std::int64_t input_size = 64;
  std::vector<std::string> class_names;  // empty: the 7 FER classes
  bool has_class_names = false;          // named by the checkpoint (not a bare state_dict's defaults)
  double mean = 0.0, std = 1.0;          // input = (pixel / 255 - mean) / std

  std::int64_t num_classes() const { return static_cast<std::int64_t>(names().size()); }
  const std::vector<std::string>& names() const;
  std::map<std::string, std::string> to_metadata() const;
  // Reads the "minidl.*" keys; missing keys keep the defaults. num_classes_hint (from fc.bias's
  // shape) is used when a bare state_dict has no class names and is not 7-way. Every value is
  // checked (whole integers in range, finite normalisation, distinct names); an error names the key.
  static ModelInfo from_metadata(const std::map<std::string, std::string>& meta, std::int64_t num_classes_hint = 0);
  std::shared_ptr<ResNet> build() const;
};

// Reads a checkpoint, builds the model it describes and loads the weights into it.
struct LoadedModel {
  std::shared_ptr<ResNet> model;
  ModelInfo info;
};
// Refuses (naming the file) a training state, metadata that does not fit the weights, and
// weights or buffers that are not finite (a model that diverged).
LoadedModel load_model(const std::string& checkpoint_path);

// "'bn1.running_var' holds 3 non-finite values (NaN or infinity) of 64" for the first float
// tensor of the model's state that has any; empty when all are finite.
std::string first_non_finite(const Module& model);

}  // namespace minidl::app
