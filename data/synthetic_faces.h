// The built-in data set: procedurally drawn grayscale faces showing the 7 FER expressions, so
// that every app runs on a fresh machine with no download. Sample i is a pure function of
// (seed, i): nothing is stored, any size can be drawn, and two machines draw the same pixels.
//
// What carries each expression (see docs/data.md for the full table):
//   Angry    brows lowered and knit (V), glabella lines, glaring lids, lips pressed or shouting
//   Disgust  nose wrinkle, upper lip raised on one side, lowered brows, narrowed eyes
//   Fear     inner brows raised and knit, eyes wide, mouth open and stretched sideways
//   Happy    mouth corners up (closed or toothy smile), cheeks raise the lower lids
//   Sad      inner brows raised (oblique), corners down, heavy upper lids
//   Surprise whole brows raised and arched, eyes widest, mouth a round O
//   Neutral  resting face with small random asymmetries
// Identity (face shape, skin tone, hair style and colour, glasses, stubble), pose (roll, yaw,
// offset, scale: as varied as a face detector's crops of photos), left/right asymmetry, the
// occasional hand, lock of hair or sunglasses in front of the face, lighting, blur and noise
// vary independently of the class. The classes
// overlap on purpose, as FER2013's do: expressions come at random intensity (a weak Sad is
// close to Neutral), some Fear faces borrow Surprise's mouth or brows and some Surprise faces
// Fear's, some Fear faces look Sad, and a weak Disgust without the snarl reads as Angry. Class
// frequencies follow FER2013's (Disgust about 1.5%).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "minidl/data/dataset.h"

namespace minidl::data {

struct SyntheticFacesOptions {
  std::uint64_t seed = 1;
  std::int64_t size = 10000;        // number of samples
  std::int64_t first_index = 0;     // sample i is face number first_index + i (disjoint sets, same seed)
  std::int64_t height = 64;
  std::int64_t width = 64;
};

class SyntheticFaces : public FerDataset {
 public:
  explicit SyntheticFaces(const SyntheticFacesOptions& options = {});

  std::int64_t size() const override { return options_.size; }
  Sample get(std::int64_t i) const override;
  std::int64_t label(std::int64_t i) const override;
  std::int64_t height() const override { return options_.height; }
  std::int64_t width() const override { return options_.width; }
  std::string description() const override;

  const SyntheticFacesOptions& options() const { return options_; }

  // FER2013's class shares (Angry 4953, Disgust 547, Fear 5121, Happy 8989, Sad 6077,
  // Surprise 4002, Neutral 6198 of 35887), which the labels are drawn from.
  static const std::vector<double>& class_proportions();

 private:
  SyntheticFacesOptions options_;
};

// Draws face number `face_index` of the stream seeded with `seed` (what get() uses), with its
// label. Exposed for the dataset writer and for tests.
Sample draw_synthetic_face(std::uint64_t seed, std::int64_t face_index, std::int64_t height, std::int64_t width);
std::int64_t synthetic_face_label(std::uint64_t seed, std::int64_t face_index);

}  // namespace minidl::data
