// make_dataset: writes the built-in synthetic faces out as a FER2013 CSV, as an image folder
// (one sub-folder per class, optionally train/ val/ test/), or as a contact sheet to look at.
//
//   make_dataset --format csv --out faces.csv --count 35887
//   make_dataset --format folder --out faces/ --count 5000 --split --size 64
//   make_dataset --format sheet --out sheet.png --per-class 12 --augment
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "common/app_main.h"
#include "minidl/base/error.h"
#include "minidl/core/atomic_file.h"
#include "minidl/core/file_io.h"
#include "minidl/data/augment.h"
#include "minidl/data/dataset.h"
#include "minidl/data/image_io.h"
#include "minidl/data/synthetic_faces.h"

namespace fs = std::filesystem;
using namespace minidl;
using namespace minidl::data;

namespace {

struct Config {
  std::string format = "csv";
  std::string out;
  std::int64_t count = 35887;
  std::int64_t size = 0;
  std::uint64_t seed = 1;
  std::int64_t first = 0;
  bool split = false;
  std::string image_format = "png";
  std::int64_t per_class = 10;
  std::int64_t zoom = 2;
  bool augment = false;
  bool force = false;
  bool quiet = false;
};

// FER2013's Usage split: 28709 / 3589 / 3589 of 35887, i.e. 80% / 10% / 10%, by position
// (the faces are independent draws, so the first 80% are as good a sample as any).
const char* usage_of(std::int64_t k, std::int64_t n) {
  if (k < n * 8 / 10) return "Training";
  if (k < n * 9 / 10) return "PublicTest";
  return "PrivateTest";
}
const char* part_of(std::int64_t k, std::int64_t n) {
  if (k < n * 8 / 10) return "train";
  if (k < n * 9 / 10) return "val";
  return "test";
}

GrayImage face(const Config& c, std::int64_t index, std::int64_t* label) {
  Sample s = draw_synthetic_face(c.seed, index, c.size, c.size);
  *label = s.label;
  if (!c.augment) return std::move(s.image);
  const AugmentOptions o;
  return augment_image(s.image, sample_augment(o, c.seed, 0, index, c.size, c.size), o.fill);
}

class Progress {
 public:
  // A progress line only on a terminal: a log file gets the summary alone.
  Progress(std::int64_t total, bool quiet)
      : total_(total), quiet_(quiet || !isatty(fileno(stderr))), start_(std::chrono::steady_clock::now()) {}
  void tick(std::int64_t done) {
    if (quiet_ || (done % std::max<std::int64_t>(1, total_ / 20) != 0 && done != total_)) return;
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    std::fprintf(stderr, "\r%lld / %lld images (%.0f%%), %.1f s, %.0f images/s   ", static_cast<long long>(done),
                 static_cast<long long>(total_), 100.0 * done / total_, s, s > 0 ? done / s : 0.0);
    if (done == total_) std::fprintf(stderr, "\n");
  }

 private:
  std::int64_t total_;
  bool quiet_;
  std::chrono::steady_clock::time_point start_;
};

void check_target(const Config& c, bool is_dir) {
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(c.out, ec);
  if (!fs::exists(st)) return;
  if (is_dir) {
    MINIDL_CHECK(fs::is_directory(c.out, ec), "--out ", c.out, ": exists and is not a folder");
    MINIDL_CHECK(c.force || fs::is_empty(c.out, ec), "--out ", c.out,
                 ": folder is not empty (use --force to write into it anyway)");
  } else {
    MINIDL_CHECK(!fs::is_directory(st), "--out ", c.out, ": is a folder, expected a file name");
    // Not even with --force: replacing /dev/null, a FIFO or a link is never what was meant.
    const std::string kind = not_regular_kind(c.out);
    MINIDL_CHECK(kind.empty(), "--out ", c.out, ": is ", kind, "; refusing to replace it, even with --force");
    MINIDL_CHECK(c.force, "--out ", c.out, ": exists (use --force to overwrite)");
  }
}

void write_csv(const Config& c) {
  check_target(c, false);
  if (fs::path(c.out).has_parent_path()) fs::create_directories(fs::path(c.out).parent_path());
  AtomicFile out(c.out, "--out");  // a reader never sees half a file
  out.write("emotion,pixels,Usage\n");
  Progress progress(c.count, c.quiet);
  std::string line;
  for (std::int64_t k = 0; k < c.count; ++k) {
    std::int64_t label = 0;
    const GrayImage img = face(c, c.first + k, &label);
    line = std::to_string(label) + ",";
    for (std::size_t i = 0; i < img.pixels.size(); ++i) {
      if (i) line += ' ';
      line += std::to_string(img.pixels[i]);
    }
    line += ",";
    line += usage_of(k, c.count);
    line += "\n";
    out.write(line);
    progress.tick(k + 1);
  }
  out.commit();
  std::printf("wrote %lld faces of %lldx%lld to %s (FER2013 CSV: emotion,pixels,Usage)\n",
              static_cast<long long>(c.count), static_cast<long long>(c.size), static_cast<long long>(c.size),
              c.out.c_str());
  if (c.size != 48)
    std::printf("note: FER2013 files are 48x48; read this one with a side of %lld\n", static_cast<long long>(c.size));
}

void write_folder(const Config& c) {
  check_target(c, true);
  const auto& names = fer_class_names();
  Progress progress(c.count, c.quiet);
  std::vector<std::int64_t> counts(names.size(), 0);
  const int digits = static_cast<int>(std::to_string(c.first + c.count).size());
  for (std::int64_t k = 0; k < c.count; ++k) {
    std::int64_t label = 0;
    const GrayImage img = face(c, c.first + k, &label);
    fs::path dir = fs::path(c.out);
    if (c.split) dir /= part_of(k, c.count);
    dir /= names[label];
    fs::create_directories(dir);
    char name[64];
    std::snprintf(name, sizeof name, "%0*lld.%s", digits, static_cast<long long>(c.first + k), c.image_format.c_str());
    save_image((dir / name).string(), img);
    ++counts[label];
    progress.tick(k + 1);
  }
  std::printf("wrote %lld faces of %lldx%lld to %s/%s<class>/:", static_cast<long long>(c.count),
              static_cast<long long>(c.size), static_cast<long long>(c.size), c.out.c_str(),
              c.split ? "{train,val,test}/" : "");
  for (std::size_t i = 0; i < names.size(); ++i) std::printf(" %s %lld", names[i].c_str(), static_cast<long long>(counts[i]));
  std::printf("\n");
}

void write_sheet(const Config& c) {
  check_target(c, false);
  const auto& names = fer_class_names();
  const std::int64_t k = static_cast<std::int64_t>(names.size()), cell = c.size * c.zoom + 4;
  std::vector<std::vector<GrayImage>> rows(static_cast<std::size_t>(k));
  std::int64_t filled = 0;
  for (std::int64_t i = c.first; filled < k; ++i) {
    MINIDL_CHECK(i - c.first < 100000, "sheet: not enough faces of every class in 100000 draws");
    std::int64_t label = 0;
    GrayImage img = face(c, i, &label);
    if (static_cast<std::int64_t>(rows[label].size()) < c.per_class) {
      rows[label].push_back(std::move(img));
      if (static_cast<std::int64_t>(rows[label].size()) == c.per_class) ++filled;
    }
  }
  // One row per class, in label order (Angry at the top, Neutral at the bottom).
  GrayImage sheet(k * cell, c.per_class * cell, 255);
  for (std::int64_t r = 0; r < k; ++r)
    for (std::int64_t j = 0; j < c.per_class; ++j)
      for (std::int64_t y = 0; y < c.size * c.zoom; ++y)
        for (std::int64_t x = 0; x < c.size * c.zoom; ++x)
          sheet.at(r * cell + 2 + y, j * cell + 2 + x) = rows[r][j].at(y / c.zoom, x / c.zoom);
  if (fs::path(c.out).has_parent_path()) fs::create_directories(fs::path(c.out).parent_path());
  save_image(c.out, sheet);
  std::printf("wrote a %lld x %lld contact sheet to %s (rows: ", static_cast<long long>(k),
              static_cast<long long>(c.per_class), c.out.c_str());
  for (std::int64_t r = 0; r < k; ++r) std::printf("%s%s", r ? ", " : "", names[r].c_str());
  std::printf(")\n");
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  CLI::App app{"Writes minidl's built-in synthetic FER faces out as a FER2013 CSV, an image folder, or a "
               "contact sheet. Face i of seed s is always the same picture."};
  app.add_option("-f,--format", c.format, "csv (FER2013: emotion,pixels,Usage), folder (<out>/<Class>/NNN.png), "
                                          "or sheet (one PNG, a row of faces per class)")
      ->check(CLI::IsMember({"csv", "folder", "sheet"}))
      ->capture_default_str();
  app.add_option("-o,--out", c.out, "the CSV file, the folder, or the sheet's PNG file")->required();
  app.add_option("-n,--count", c.count, "how many faces (csv, folder); FER2013 has 35887")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{10000000}))
      ->capture_default_str();
  app.add_option("-s,--size", c.size, "image side in pixels (default: 48 for csv as in FER2013, 64 otherwise)")
      ->check(CLI::Range(std::int64_t{8}, std::int64_t{1024}));
  app.add_option("--seed", c.seed, "which set of faces")->capture_default_str();
  app.add_option("--first", c.first, "index of the first face (disjoint sets from one seed)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_flag("--split", c.split, "folder: write train/ val/ test/ (80/10/10%) each with class folders");
  app.add_option("--image-format", c.image_format, "folder: png, bmp or jpg")
      ->check(CLI::IsMember({"png", "bmp", "jpg"}))
      ->capture_default_str();
  app.add_option("--per-class", c.per_class, "sheet: faces per class")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{100}))
      ->capture_default_str();
  app.add_option("--zoom", c.zoom, "sheet: pixel zoom")->check(CLI::Range(std::int64_t{1}, std::int64_t{16}))->capture_default_str();
  app.add_flag("--augment", c.augment, "apply the default training augmentation (epoch 0) to every face");
  app.add_flag("--force", c.force, "overwrite an existing file, or write into a non-empty folder");
  app.add_flag("-q,--quiet", c.quiet, "no progress line");
  minidl::app::app_start();
  CLI11_PARSE(app, argc, argv);
  if (c.size == 0) c.size = c.format == "csv" ? 48 : 64;
  try {
    if (c.format == "csv")
      write_csv(c);
    else if (c.format == "folder")
      write_folder(c);
    else
      write_sheet(c);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_dataset: error: %s\n", e.what());
    return 1;
  }
  return minidl::app::app_exit(0);
}
