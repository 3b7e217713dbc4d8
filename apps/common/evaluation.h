// Running a model over a data set without gradients: loss, predictions and the confusion
// matrix. Shared by training's validation pass, `evaluate` and the run report.
#pragma once

#include <vector>

#include "common/metrics.h"
#include "minidl/core/precision.h"
#include "minidl/data/dataset.h"
#include "minidl/layers/module.h"

namespace minidl::app {

struct Prediction {
  std::int64_t index;       // in the data set
  std::int64_t label;       // true class
  std::int64_t predicted;
  float confidence;         // softmax probability of the predicted class
};

struct EvalResult {
  double loss = 0;          // mean cross-entropy (no smoothing, no class weights)
  ConfusionMatrix confusion;
  std::vector<Prediction> predictions;  // in data-set order
  double seconds = 0;
  double accuracy() const { return confusion.accuracy(); }
};

struct EvalOptions {
  std::int64_t batch_size = 256;
  Device device = Device::cpu();
  bool flip_tta = false;  // average the softmax of the image and its mirror
  float mean = 0.f, std = 1.f;
  int workers = 2;
  Precision precision = Precision::Float32;  // of the forward passes (core/precision.h)
};

// Puts the model in eval mode for the pass and restores its mode afterwards.
EvalResult evaluate(Module& model, const data::DatasetPtr& dataset, const EvalOptions& options);

}  // namespace minidl::app
