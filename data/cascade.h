// A boosted cascade of Haar or LBP features, read from the XML files OpenCV ships
// (Debian's opencv-data: /usr/share/opencv4/haarcascades, /usr/share/opencv4/lbpcascades)
// and evaluated by our own code the way OpenCV's CascadeClassifier::detectMultiScale does:
// an image pyramid (bilinear, factor scale_factor per level), integral images of each level
// (and of its squares, for Haar's variance normalisation), a sliding window with OpenCV's
// steps, every stage's weak trees summed against the stage threshold, and the hits grouped by
// group_rectangles. The same cascade, image and options give OpenCV's boxes (docs/decisions.md
// says why this is our own code and how it is checked against OpenCV).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "minidl/data/image.h"
#include "minidl/data/rect.h"

namespace minidl::data {

struct XmlElement;

struct DetectOptions {
  double scale_factor = 1.1;      // pyramid step (> 1)
  int min_neighbors = 3;          // a box needs more than this many raw hits; 0 returns the raw hits
  std::int64_t min_size = 0;      // smallest box side to look for (0: the cascade's window)
  std::int64_t max_size = 0;      // largest (0: the image)
};

class Cascade {
 public:
  enum class FeatureType { Haar, Lbp };

  // Reads an OpenCV cascade XML file (the format opencv_traincascade writes). Throws a
  // DataError naming the file and line for anything malformed or out of range, and for what
  // this reader does not evaluate (the pre-2.0 format, tilted Haar features).
  static Cascade load(const std::string& path);
  static Cascade parse(const std::string& xml_text, const std::string& name);

  // The objects in a grayscale image, as detectMultiScale(image, scale_factor, min_neighbors,
  // 0, (min_size, min_size), (max_size, max_size)) returns them, clipped to the image.
  std::vector<Rect> detect(const GrayImage& image, const DetectOptions& options = {}) const;
  // Every window that passed every stage, in image coordinates, before grouping and clipping
  // (options.min_neighbors is not used): detect() is clip(group_rectangles(these)).
  std::vector<Rect> detect_raw(const GrayImage& image, const DetectOptions& options = {}) const;

  FeatureType feature_type() const { return type_; }
  std::int64_t window_width() const { return win_w_; }
  std::int64_t window_height() const { return win_h_; }
  std::size_t num_stages() const { return stages_.size(); }

  // Internals, public for the evaluator in cascade_detect.cpp.
  struct HaarRect {
    std::int32_t x, y, w, h;
    float weight;
  };
  struct Feature {
    HaarRect rects[3];      // Haar: 2 or 3 weighted rectangles (unused ones weight 0)
    std::int32_t lbp[4];    // LBP: x, y, block width, block height of a 3x3 grid of blocks
  };
  struct Node {
    std::int32_t feature;
    float threshold;        // ordered (Haar) features: go left when value < threshold
    std::int32_t left, right;  // > 0: node index within the tree; <= 0: -leaf index
    std::int32_t subset;    // categorical (LBP) features: offset of 8 words in subsets_
  };
  struct Tree {
    std::int32_t first_node, first_leaf;
  };
  struct Stage {
    std::int32_t first_tree, num_trees;
    float threshold;
  };
  const std::vector<Feature>& features() const { return features_; }
  const std::vector<Node>& nodes() const { return nodes_; }
  const std::vector<float>& leaves() const { return leaves_; }
  const std::vector<Tree>& trees() const { return trees_; }
  const std::vector<Stage>& stages() const { return stages_; }
  const std::vector<std::int32_t>& subsets() const { return subsets_; }

 private:
  static Cascade from_xml(const XmlElement& doc, const std::string& where);

  FeatureType type_ = FeatureType::Haar;
  std::int64_t win_w_ = 0, win_h_ = 0;
  std::vector<Feature> features_;
  std::vector<Node> nodes_;
  std::vector<float> leaves_;
  std::vector<Tree> trees_;
  std::vector<Stage> stages_;
  std::vector<std::int32_t> subsets_;
};

// Where Debian's opencv-data puts the frontal-face cascade predict uses by default.
constexpr const char* kDefaultFaceCascade = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml";

}  // namespace minidl::data
