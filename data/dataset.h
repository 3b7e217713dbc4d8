// Dataset: what every source of samples looks like to the loader and the apps. Most are
// labelled images (8-bit, channels x height x width); a TensorDataset holds float inputs of any
// shape and int64 labels or float targets. The DataLoader batches both.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "minidl/core/tensor.h"
#include "minidl/data/image.h"

namespace minidl::data {

struct Sample {
  Sample() = default;
  Sample(Image img, std::int64_t lab) : image(std::move(img)), label(lab) {}  // an image and its class

  Image image;             // an image data set's sample: channels() x height() x width()
  std::int64_t label = 0;  // its class
  Tensor input;            // or (TensorDataset) a float input of any shape, instead of an image
  Tensor target;           // or (TensorDataset) a float target, instead of a class label
};

class Dataset {
 public:
  virtual ~Dataset() = default;

  virtual std::int64_t size() const = 0;
  // Sample i in [0, size()), its image always height() x width(). Must be safe to call from
  // several threads at once (the loader's workers do).
  virtual Sample get(std::int64_t i) const = 0;
  // Label of sample i without producing its image (splits and samplers ask for all of them).
  virtual std::int64_t label(std::int64_t i) const { return get(i).label; }
  virtual const std::vector<std::string>& class_names() const = 0;
  // Input size of every image.
  virtual std::int64_t height() const = 0;
  virtual std::int64_t width() const = 0;
  virtual std::int64_t channels() const { return 1; }
  // The shape of one input: [channels, height, width] for images.
  virtual Shape sample_shape() const { return {channels(), height(), width()}; }
  // One line for logs: "FER2013 CSV fer2013.csv (Training, 28709 images)".
  virtual std::string description() const = 0;

  std::int64_t num_classes() const { return static_cast<std::int64_t>(class_names().size()); }
  // All labels, in index order.
  std::vector<std::int64_t> labels() const;
  // Number of samples per class (size num_classes()).
  std::vector<std::int64_t> class_counts() const;

 protected:
  // Throws minidl::Error when i is out of range (every get/label starts with it).
  void check_index(std::int64_t i) const;
};

using DatasetPtr = std::shared_ptr<const Dataset>;

// The 7 FER2013 classes in their canonical (label) order:
// Angry, Disgust, Fear, Happy, Sad, Surprise, Neutral.
const std::vector<std::string>& fer_class_names();

// A data set of FER2013's seven expressions: the CSV file (fer2013_csv.h) or faces drawn like it
// (synthetic_faces.h).
class FerDataset : public Dataset {
 public:
  const std::vector<std::string>& class_names() const override { return fer_class_names(); }
};

}  // namespace minidl::data
