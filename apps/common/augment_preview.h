// What the augmentation does to one training image, for people to look at: the image as the
// data set gives it, then the draws the training loader makes for that very sample in the
// first epochs of a run with this seed (data::sample_augment(options, seed, epoch, index)).
// A run folder keeps them as augmentation.png and report.html shows them with their values.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "minidl/data/augment.h"
#include "minidl/data/dataset.h"

namespace minidl::app {

struct AugmentPreview {
  data::GrayImage original;
  std::int64_t index = 0;                      // which training sample
  std::vector<data::GrayImage> images;         // one per epoch, from epoch 0
  std::vector<data::AugmentParams> params;
  std::string options;                         // AugmentOptions::str()
  bool used = true;                            // whether the run trained with augmentation
};

AugmentPreview preview_augmentation(const data::Dataset& train, std::int64_t index, const data::AugmentOptions& options,
                                    std::uint64_t seed, int epochs, bool used);

// "flip, -7.2 deg, (+3.1, -2.0) px, x1.04"
std::string describe_augment(const data::AugmentParams& p);

// The original then the draws as one gray image, `columns` tiles a row, each `zoom` times
// enlarged, separated by 2 white pixels; the original is framed in black.
data::GrayImage preview_sheet(const AugmentPreview& preview, int columns, int zoom);

}  // namespace minidl::app
