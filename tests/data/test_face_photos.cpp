// Face detection on real photos nobody here made, against OpenCV itself: the Grace Hopper
// portrait of Debian's facedetect examples and scikit-image's astronaut, fetched from their
// Debian packages by scripts/install-deps.sh --test (scripts/fetch-test-assets.sh), never
// committed. OpenCV's answers come from Debian's python3-opencv, run now on the same
// grayscale pixels and the same cascade files (opencv-data).
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "minidl/data/cascade.h"
#include "minidl/data/image_io.h"
#include "minidl/data/resize_bilinear.h"
#include "test_assets.h"
#include "test_data_helpers.h"

using namespace minidl;
using namespace minidl::data;
using namespace minidl::data::testing;

namespace {

struct Photo {
  const char* file;
  std::int64_t nose_x, nose_y;  // marked by hand on the photo
  std::int64_t face_width;      // cheek to cheek, by hand
};
const Photo kPhotos[] = {{"grace_hopper_512x512.jpg", 262, 232, 170}, {"astronaut.png", 224, 122, 85}};

const std::string kHaar = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml";
const std::string kLbp = "/usr/share/opencv4/lbpcascades/lbpcascade_frontalface_improved.xml";

// OpenCV's pyramid resize to each size (files in `dir`) and its boxes for every cascade and
// minNeighbors, on one image, in one Python run.
nlohmann::json opencv_reference(const std::string& gray_png, const std::string& dir,
                                const std::vector<std::pair<std::int64_t, std::int64_t>>& sizes,
                                const std::string& neighbours, const std::vector<std::string>& cascades) {
  std::string list;
  for (auto [h, w] : sizes) list += (list.empty() ? "" : ",") + std::to_string(h) + "x" + std::to_string(w);
  std::string cmd = test_assets::opencv_python() + " " + test_assets::script("opencv_reference.py") + " " + gray_png + " " +
                    dir + " " + list + " " + neighbours;
  for (const auto& c : cascades) cmd += " " + c;
  std::string out;
  const int rc = minidl::test::run_command(cmd, &out);
  INFO(out);
  REQUIRE(rc == 0);
  return nlohmann::json::parse(out);
}

std::vector<Rect> boxes_of(const nlohmann::json& j) {
  std::vector<Rect> r;
  for (const auto& b : j) r.push_back({b[0], b[1], b[2], b[3]});
  return r;
}

std::vector<Rect> sorted(std::vector<Rect> v) {
  std::sort(v.begin(), v.end(), [](const Rect& a, const Rect& b) {
    return std::tie(a.x, a.y, a.width, a.height) < std::tie(b.x, b.y, b.width, b.height);
  });
  return v;
}

// Every box of `a` has one in `b` with IoU >= 0.8 and the other way round; returns the lowest
// best-IoU seen.
double match(const std::vector<Rect>& a, const std::vector<Rect>& b) {
  double worst = 1.0;
  for (int pass = 0; pass < 2; ++pass) {
    const auto& x = pass ? b : a;
    const auto& y = pass ? a : b;
    for (const Rect& r : x) {
      double best = 0;
      for (const Rect& s : y) best = std::max(best, iou(r, s));
      worst = std::min(worst, best);
    }
  }
  return a.empty() && b.empty() ? 1.0 : worst;
}

std::string boxes_str(const std::vector<Rect>& v) {
  std::string s;
  for (const auto& r : v)
    s += "(" + std::to_string(r.x) + "," + std::to_string(r.y) + "," + std::to_string(r.width) + "," + std::to_string(r.height) + ") ";
  return s;
}

// The photos and OpenCV, or a recorded skip.
bool have_everything() {
  if (test_assets::photos_dir().empty())
    return test_assets::skip("photos", "the test photos are not here (" + test_assets::photos_hint() + ")");
  if (test_assets::opencv_python().empty())
    return test_assets::skip("opencv", "no python3 that imports cv2 (Debian's python3-opencv; scripts/install-deps.sh --test)");
  if (!std::filesystem::exists(kHaar) || !std::filesystem::exists(kLbp))
    return test_assets::skip("opencv", "OpenCV's cascade files are not installed (Debian's opencv-data)");
  return true;
}

}  // namespace

TEST_CASE("face detection on real photos: OpenCV's pyramid, OpenCV's boxes, and the faces that are there",
          "[data][photos]") {
  if (!have_everything()) return;
  TempDir dir("faces");
  const std::vector<std::string> files = {kHaar, kLbp};
  const std::vector<Cascade> cascades = {Cascade::load(kHaar), Cascade::load(kLbp)};
  const std::vector<std::pair<std::int64_t, std::int64_t>> sizes = {{465, 465}, {300, 217}, {51, 37}, {24, 24}, {600, 700}, {256, 256}};
  std::vector<GrayImage> imgs;
  std::vector<Rect> alone;  // each portrait's face, in the side-by-side picture's coordinates
  for (const Photo& p : kPhotos) {
    // Both detectors get the same grayscale pixels (our decoder's), written losslessly.
    imgs.push_back(load_image_gray(test_assets::photos_dir() + "/" + p.file));
    const GrayImage& img = imgs.back();
    const std::string gray = dir / "gray.png";
    save_image(gray, img);
    const nlohmann::json cv = opencv_reference(gray, dir.str(), sizes, "0,5", files);

    // The image pyramid: OpenCV's bit-exact bilinear resize, to the bit.
    for (auto [h, w] : sizes) {
      INFO(p.file << " resized to " << h << "x" << w);
      CHECK(resize_bilinear(img, h, w).pixels == load_image_gray(dir / (std::to_string(h) + "x" + std::to_string(w) + ".png")).pixels);
    }
    for (std::size_t c = 0; c < files.size(); ++c) {
      // The raw hits (every window that passed every stage; OpenCV clips them to the image),
      // then grouped as detectMultiScale groups them.
      const std::vector<Rect> hits = cascades[c].detect_raw(img);
      INFO(p.file << " " << files[c]);
      std::vector<Rect> clipped;
      for (const Rect& r : hits) clipped.push_back(clip(r, img.w, img.h));
      CHECK(hits.size() > 10);
      CHECK(sorted(clipped) == sorted(boxes_of(cv[files[c]]["0"])));
      std::vector<Rect> ours;
      for (const Rect& r : group_rectangles(hits, 5, 0.2)) ours.push_back(clip(r, img.w, img.h));
      const auto theirs = boxes_of(cv[files[c]]["5"]);
      INFO("minNeighbors 5: minidl " << boxes_str(ours) << " OpenCV " << boxes_str(theirs));
      CHECK(ours.size() == theirs.size());
      const double worst = match(ours, theirs);
      std::printf("%s, %s, minNeighbors 5: minidl %s OpenCV %s lowest IoU %.3f\n", p.file,
                  std::filesystem::path(files[c]).filename().c_str(), boxes_str(ours).c_str(), boxes_str(theirs).c_str(),
                  worst);
      CHECK(worst >= 0.8);
      if (c == 0) {
        // The face marked by hand: one box, around the nose, about the face's size.
        REQUIRE(ours.size() == 1);
        const Rect& f = ours[0];
        CHECK((f.x < p.nose_x && p.nose_x < f.x + f.width && f.y < p.nose_y && p.nose_y < f.y + f.height));
        CHECK(f.width >= 0.8 * p.face_width);
        CHECK(f.width <= 1.6 * p.face_width);
        alone.push_back({f.x + (imgs.size() == 2 ? imgs[0].w : 0), f.y, f.width, f.height});
      }
    }
  }
  // Side by side in one picture (a group of two): both faces, where each was alone.
  REQUIRE(imgs[0].h == imgs[1].h);
  GrayImage both(imgs[0].h, imgs[0].w + imgs[1].w);
  for (std::int64_t y = 0; y < both.h; ++y)
    for (std::int64_t x = 0; x < both.w; ++x) both.at(y, x) = x < imgs[0].w ? imgs[0].at(y, x) : imgs[1].at(y, x - imgs[0].w);
  DetectOptions o;
  o.min_neighbors = 5;  // predict's default
  const auto faces = cascades[0].detect(both, o);
  INFO("both: " << boxes_str(faces) << " alone: " << boxes_str(alone));
  CHECK(faces.size() == 2);
  CHECK(match(faces, alone) >= 0.8);
}
