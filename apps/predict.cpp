// predict: the expression (class) of each face in photos, or of images that are already face
// crops. Inputs are files and folders (searched recursively); they are read one at a time and
// classified in batches of --batch-size, so memory does not grow with the number of images.
//
// Faces are found with an OpenCV Haar cascade evaluated by minidl (data/cascade.h), and each is
// cropped as FER2013's faces were (data/face_crop.h). Detection is on by default for images
// whose shorter side is at least 4 times the model's input; --detect-faces / --no-detect-faces
// decide for every image. Preprocessing is training's: grayscale (ITU-R 601), resize to the
// input size, pixel / 255, then the checkpoint's normalisation.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <filesystem>

#include "common/annotate.h"
#include "common/image_list.h"
#include "common/model_info.h"
#include "common/predict_output.h"
#include "common/trainer.h"
#include "minidl/config.h"
#include "minidl/core/autograd.h"
#include "minidl/core/precision.h"
#include "minidl/data/cascade.h"
#include "minidl/data/face_crop.h"
#include "minidl/data/image.h"
#include "minidl/data/image_io.h"

using namespace minidl;
using namespace minidl::app;

namespace {

constexpr std::int64_t kAutoDetectFactor = 4;  // detect faces when the shorter side >= 4 x the input

struct Options {
  std::string checkpoint, device = "cpu", csv, annotate, cascade = data::kDefaultFaceCascade;
  Precision precision = Precision::Float32;
  std::vector<std::string> inputs;
  int top_k = 3;
  bool json = false, skip_bad = false, quiet = false, detect = false, no_detect = false;
  std::int64_t batch_size = 64;
  data::DetectOptions detect_options{1.1, 5, 0, 0};
  double margin = data::kFaceCropMargin;
};

// An image waiting for its boxes to be classified.
struct Pending {
  ImageResult result;
  std::size_t unscored = 0;
  data::GrayImage image;  // kept only when it is to be annotated
};

class Predictor {
 public:
  Predictor(const Options& o, LoadedModel& loaded, Device device, std::size_t num_inputs)
      : o_(o),
        loaded_(loaded),
        device_(device),
        size_(loaded.info.input_size),
        batch_(Tensor::empty({o.batch_size, 1, size_, size_})),
        writer_(loaded.info.names(), static_cast<std::size_t>(o.top_k), o.json, o.csv),
        annotate_folder_(!o.annotate.empty() && num_inputs > 1) {
    if (annotate_folder_) std::filesystem::create_directories(o.annotate);
  }

  void add(const ImageInput& in) {
    Pending p;
    p.result.path = in.path;
    if (!in.problem.empty()) {
      skip(p, in.problem);
      return;
    }
    data::GrayImage img;
    try {
      img = data::load_image_gray(in.path);
    } catch (const DataError& e) {
      if (!o_.skip_bad) throw Error(detail::str(e.what(), "\nhint: --skip-bad skips unreadable files (and reports them)"));
      std::string why = e.what();
      if (why.rfind(in.path + ": ", 0) == 0) why = why.substr(in.path.size() + 2);
      skip(p, why);
      return;
    }
    ImageResult& r = p.result;
    r.width = img.w;
    r.height = img.h;
    r.searched_faces = !o_.no_detect && (o_.detect || std::min(img.h, img.w) >= kAutoDetectFactor * size_);
    std::vector<data::GrayImage> crops;
    if (r.searched_faces) {
      for (const data::Rect& box : cascade().detect(img, o_.detect_options)) {
        r.boxes.push_back({box, {}});
        crops.push_back(data::crop_face(img, box, size_, o_.margin));
      }
    } else {
      r.boxes.push_back({{0, 0, img.w, img.h}, {}});
      crops.push_back(data::resize(img, size_, size_));
    }
    ++images_;
    faces_ += r.searched_faces ? static_cast<std::int64_t>(r.boxes.size()) : 0;
    p.unscored = crops.size();
    if (!o_.annotate.empty()) p.image = std::move(img);
    const std::size_t record = done_offset_ + pending_.size();
    pending_.push_back(std::move(p));
    for (std::size_t b = 0; b < crops.size(); ++b) {
      float* dst = batch_.data<float>() + filled_ * size_ * size_;
      for (auto v : crops[b].pixels) *dst++ = static_cast<float>((v / 255.0 - loaded_.info.mean) / loaded_.info.std);
      slots_.push_back({record, b});
      if (++filled_ == o_.batch_size) run_batch();
    }
    // An annotated image is drawn as soon as it is done, so at most one image is held.
    if (!o_.annotate.empty()) run_batch();
    emit_ready();
  }

  void finish() {
    run_batch();
    emit_ready();
    writer_.finish();
  }

  std::int64_t images() const { return images_; }
  std::int64_t faces() const { return faces_; }
  std::int64_t skipped() const { return skipped_; }

 private:
  struct Slot {
    std::size_t record;  // index into pending_ counted from the first image ever (see done_offset_)
    std::size_t box;
  };

  const data::Cascade& cascade() {
    if (!cascade_loaded_) {
      try {
        cascade_ = data::Cascade::load(o_.cascade);
      } catch (const Error& e) {
        throw Error(detail::str(e.what(), "\nhint: face detection needs a cascade (Debian's opencv-data installs ",
                                data::kDefaultFaceCascade, "); --cascade names another, --no-detect-faces turns it off"));
      }
      cascade_loaded_ = true;
    }
    return cascade_;
  }

  void skip(Pending& p, const std::string& why) {
    if (!o_.skip_bad)
      throw Error(detail::str(p.result.path, ": ", why, "\nhint: --skip-bad skips unreadable files (and reports them)"));
    std::fprintf(stderr, "warning: skipped %s: %s\n", p.result.path.c_str(), why.c_str());
    p.result.error = why;
    ++skipped_;
    pending_.push_back(std::move(p));
    emit_ready();
  }

  void run_batch() {
    if (filled_ == 0) return;
    NoGradGuard no_grad;
    AutocastGuard autocast(o_.precision);
    const Tensor x = filled_ == o_.batch_size ? batch_ : batch_.narrow0(0, filled_);
    const auto logits = loaded_.model->forward(x.to(device_)).to(Device::cpu()).to(DType::Float64).to_vector<double>();
    const std::size_t classes = loaded_.info.names().size();
    for (std::int64_t i = 0; i < filled_; ++i) {
      const double* l = &logits[static_cast<std::size_t>(i) * classes];
      const double m = *std::max_element(l, l + classes);
      std::vector<double> p(classes);
      double z = 0;
      for (std::size_t c = 0; c < classes; ++c) z += p[c] = std::exp(l[c] - m);
      for (auto& v : p) v /= z;
      const Slot& s = slots_[static_cast<std::size_t>(i)];
      Pending& rec = pending_[s.record - done_offset_];
      // A model can hold only finite numbers (load_model checks) and still overflow float32 on
      // an image: refuse to report "Angry -nan%" as an answer.
      if (!std::all_of(l, l + classes, [](double v) { return std::isfinite(v); }))
        throw Error(detail::str(rec.result.path, ": the model's outputs for this image are not finite (NaN or infinity); "
                                "its weights overflow float32 (is it a trained model?)"));
      rec.result.boxes[s.box].probs = std::move(p);
      --rec.unscored;
    }
    slots_.clear();
    filled_ = 0;
  }

  // Writes the finished images at the front of the queue, in input order.
  void emit_ready() {
    while (!pending_.empty() && pending_.front().unscored == 0) {
      Pending& p = pending_.front();
      writer_.write(p.result);
      if (!o_.annotate.empty() && p.result.error.empty()) annotate(p);
      pending_.pop_front();
      ++done_offset_;
    }
  }

  void annotate(const Pending& p) {
    std::vector<Annotation> marks;
    const auto& names = loaded_.info.names();
    for (std::size_t i = 0; i < p.result.boxes.size(); ++i) {
      const auto& b = p.result.boxes[i];
      const std::size_t best = static_cast<std::size_t>(std::max_element(b.probs.begin(), b.probs.end()) - b.probs.begin());
      char pct[16];
      std::snprintf(pct, sizeof pct, " %.0f%%", 100 * b.probs[best]);
      marks.push_back({b.box, (p.result.searched_faces ? std::to_string(i + 1) + " " : std::string()) + names[best] + pct});
    }
    std::string out = o_.annotate;
    if (annotate_folder_) {
      char idx[16];
      std::snprintf(idx, sizeof idx, "%06lld_", static_cast<long long>(annotated_++));
      out = (std::filesystem::path(o_.annotate) /
             (idx + std::filesystem::path(p.result.path).stem().string() + ".png")).string();
    }
    save_annotated_png(out, p.image, marks);
  }

  const Options& o_;
  LoadedModel& loaded_;
  Device device_;
  std::int64_t size_;
  Tensor batch_;
  std::int64_t filled_ = 0;
  std::vector<Slot> slots_;
  std::deque<Pending> pending_;
  std::size_t done_offset_ = 0;  // images already written and popped from pending_
  PredictionWriter writer_;
  data::Cascade cascade_;
  bool cascade_loaded_ = false;
  bool annotate_folder_;
  std::int64_t images_ = 0, faces_ = 0, skipped_ = 0, annotated_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"Predict the facial expression in photos and face images (PNG, JPEG, BMP, GIF, TGA, PGM).\n"
               "Faces are found with an OpenCV Haar cascade and each is classified; detection is on by default\n"
               "for images whose shorter side is at least 4x the model's input (256 px for a 64x64 model),\n"
               "and off for smaller images, which are taken to be face crops already."};
  app.set_version_flag("--version", MINIDL_VERSION);
  app.add_option("--checkpoint", o.checkpoint, "A .safetensors checkpoint (minidl's, or a PyTorch state_dict of the model)")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("images", o.inputs, "Image files and folders (searched recursively for image files)")->required();
  app.add_option("--top-k", o.top_k, "How many classes to list per image or face")
      ->capture_default_str()
      ->check([](const std::string& v) {
        try {
          if (std::stoll(v) >= 1) return std::string();
        } catch (const std::exception&) {
        }
        return "must be a whole number of at least 1, got '" + v + "'";
      });
  app.add_flag("--json", o.json, "Machine-readable output on stdout (one JSON array, an entry per image)");
  app.add_option("--csv", o.csv, "Also write a CSV file: one row per image or face (path, box, label, probabilities)");
  app.add_option("--batch-size", o.batch_size, "Images or faces per forward pass (memory is bounded by it)")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 20));
  app.add_option("--device", o.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  std::string precision = "fp32";
  app.add_option("--precision", precision, "fp32, or bf16: convolutions and linear layers in bf16 with FP32 accumulation")
      ->capture_default_str();
  app.add_flag("--quiet", o.quiet, "No progress lines on stderr");
  app.add_flag("--skip-bad", o.skip_bad, "Skip unreadable files (reported on stderr and in --json/--csv) instead of stopping");
  auto* on = app.add_flag("--detect-faces", o.detect, "Find faces in every image (default: only in large images)");
  app.add_flag("--no-detect-faces", o.no_detect, "Classify every image whole, as a face crop")->excludes(on);
  app.add_option("--cascade", o.cascade, "OpenCV cascade XML for face detection")->capture_default_str();
  app.add_option("--min-neighbors", o.detect_options.min_neighbors,
                 "Detections a face needs (OpenCV's minNeighbors; fewer finds more and also more false faces)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000));
  app.add_option("--scale-factor", o.detect_options.scale_factor, "Detection pyramid step (OpenCV's scaleFactor)")
      ->capture_default_str()
      ->check(CLI::Range(1.01, 4.0));
  app.add_option("--min-face", o.detect_options.min_size, "Smallest face to look for, in pixels (0: the cascade's window, 24 for the default)")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{1} << 20));
  app.add_option("--face-margin", o.margin, "Side of the face crop over the detector's box")
      ->capture_default_str()
      ->check(CLI::Range(0.5, 4.0));
  app.add_option("--annotate", o.annotate,
                 "Write the image with boxes and labels drawn as PNG (with several images: a folder of them)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  try {
    o.precision = parse_precision(precision, "--precision");
    LoadedModel loaded = load_model(o.checkpoint);
    const Device device = resolve_device(o.device, true);
    loaded.model->to(device);
    const ImageList list = list_images(o.inputs);
    if (!o.skip_bad)  // refuse before any work, not after
      for (const auto& in : list.inputs)
        if (!in.problem.empty())
          throw Error(detail::str(in.path, ": ", in.problem, "\nhint: --skip-bad skips unreadable files (and reports them)"));
    if (list.inputs.empty()) throw Error("no image files found in " + o.inputs.front() + (o.inputs.size() > 1 ? " ..." : ""));

    Predictor predictor(o, loaded, device, list.inputs.size());
    const auto start = std::chrono::steady_clock::now();
    auto last = start;
    for (std::size_t i = 0; i < list.inputs.size(); ++i) {
      predictor.add(list.inputs[i]);
      const auto now = std::chrono::steady_clock::now();
      if (!o.quiet && now - last > std::chrono::seconds(10)) {
        const double s = std::chrono::duration<double>(now - start).count();
        std::fprintf(stderr, "predict: %zu/%zu images, %.1f images/s\n", i + 1, list.inputs.size(), (i + 1) / s);
        last = now;
      }
    }
    predictor.finish();
    if (std::ferror(stdout)) throw Error("writing the results to standard output failed");
    if (predictor.skipped() > 0 || list.ignored > 0)
      std::fprintf(stderr, "predict: %lld images classified, %lld skipped as unreadable, %lld files ignored (not images by name)\n",
                   static_cast<long long>(predictor.images()), static_cast<long long>(predictor.skipped()),
                   static_cast<long long>(list.ignored));
    return 0;
  } catch (const OutOfMemoryError& e) {
    std::fprintf(stderr, "error: %s\nhint: try a smaller --batch-size (it is %lld)\n", e.what(),
                 static_cast<long long>(o.batch_size));
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
