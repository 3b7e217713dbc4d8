#include "common/augment_preview.h"

#include <cstdio>

#include "minidl/base/error.h"

namespace minidl::app {

AugmentPreview preview_augmentation(const data::Dataset& train, std::int64_t index, const data::AugmentOptions& options,
                                    std::uint64_t seed, int epochs, bool used) {
  MINIDL_CHECK(index >= 0 && index < train.size(), "augmentation preview: sample ", index, " is outside the ",
               train.size(), " training images");
  AugmentPreview p;
  p.original = train.get(index).image;
  p.index = index;
  p.options = options.str();
  p.used = used;
  for (int e = 0; e < epochs; ++e) {
    // The loader's draw for this sample in epoch e (data/dataloader.cpp makes the same call).
    const data::AugmentParams a = data::sample_augment(options, seed, e, index, p.original.h, p.original.w);
    p.params.push_back(a);
    p.images.push_back(data::augment_image(p.original, a, options.fill));
  }
  return p;
}

std::string describe_augment(const data::AugmentParams& p) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%s%+.1f deg, (%+.1f, %+.1f) px, x%.2f", p.flip ? "flip, " : "", p.rotation_deg, p.tx,
                p.ty, p.scale);
  return buf;
}

data::GrayImage preview_sheet(const AugmentPreview& preview, int columns, int zoom) {
  MINIDL_CHECK(columns > 0 && zoom > 0, "augmentation preview: columns and zoom must be positive");
  const std::int64_t h = preview.original.h, w = preview.original.w, gap = 2;
  const std::int64_t tiles = 1 + static_cast<std::int64_t>(preview.images.size());
  const std::int64_t rows = (tiles + columns - 1) / columns;
  const std::int64_t th = h * zoom + 2 * gap, tw = w * zoom + 2 * gap;
  data::GrayImage sheet(rows * th, columns * tw, 255);
  for (std::int64_t t = 0; t < tiles; ++t) {
    const data::GrayImage& img = t == 0 ? preview.original : preview.images[static_cast<std::size_t>(t - 1)];
    const std::int64_t y0 = (t / columns) * th, x0 = (t % columns) * tw;
    for (std::int64_t y = 0; y < th; ++y)
      for (std::int64_t x = 0; x < tw; ++x) {
        const bool inside = y >= gap && y < th - gap && x >= gap && x < tw - gap;
        if (inside)
          sheet.at(y0 + y, x0 + x) = img.at((y - gap) / zoom, (x - gap) / zoom);
        else if (t == 0)
          sheet.at(y0 + y, x0 + x) = 0;  // the original's frame
      }
  }
  return sheet;
}

}  // namespace minidl::app
