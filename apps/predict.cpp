// predict: the expression (class) of each image file, with the top-k probabilities.
// Preprocessing is training's: grayscale (ITU-R 601), resize to the input size, pixel / 255,
// then the checkpoint's normalisation if it has one.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "common/model_info.h"
#include "common/trainer.h"
#include "minidl/config.h"
#include "minidl/core/autograd.h"
#include "minidl/core/precision.h"
#include "minidl/data/image.h"
#include "minidl/data/image_io.h"

using namespace minidl;
using namespace minidl::app;

int main(int argc, char** argv) {
  std::string checkpoint, device_flag = "cpu", precision_flag = "fp32";
  std::vector<std::string> images;
  int top_k = 3;
  bool json_out = false;
  CLI::App app{"Predict the expression of images with a trained checkpoint (PNG, JPEG, BMP, GIF, TGA, PGM)."};
  app.set_version_flag("--version", MINIDL_VERSION);
  app.add_option("--checkpoint", checkpoint, "A .safetensors checkpoint (minidl's, or a PyTorch state_dict of the model)")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("images", images, "Image files")->required();
  app.add_option("--top-k", top_k, "How many classes to list per image")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_flag("--json", json_out, "Machine-readable output (one JSON document)");
  app.add_option("--device", device_flag, "auto, cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--precision", precision_flag, "fp32, or bf16: convolutions and linear layers in bf16 with FP32 accumulation")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  try {
    const Precision precision = parse_precision(precision_flag, "--precision");
    LoadedModel loaded = load_model(checkpoint);
    const Device device = resolve_device(device_flag, true);
    loaded.model->to(device);
    const auto& names = loaded.info.names();
    const std::int64_t s = loaded.info.input_size, classes = loaded.info.num_classes();
    const std::size_t k = std::min<std::size_t>(static_cast<std::size_t>(top_k), names.size());

    // One batch of every image.
    Tensor x = Tensor::empty({static_cast<std::int64_t>(images.size()), 1, s, s});
    float* px = x.data<float>();
    for (const auto& path : images) {
      const data::GrayImage img = data::resize(data::load_image_gray(path), s, s);
      for (auto p : img.pixels) *px++ = static_cast<float>((p / 255.0 - loaded.info.mean) / loaded.info.std);
    }
    NoGradGuard no_grad;
    AutocastGuard autocast(precision);
    const auto logits = loaded.model->forward(x.to(device)).to(Device::cpu()).to(DType::Float64).to_vector<double>();

    nlohmann::json out = nlohmann::json::array();
    for (std::size_t i = 0; i < images.size(); ++i) {
      const double* l = &logits[i * static_cast<std::size_t>(classes)];
      const double m = *std::max_element(l, l + classes);
      std::vector<std::pair<double, std::size_t>> p;
      double z = 0;
      for (std::int64_t c = 0; c < classes; ++c) z += std::exp(l[c] - m);
      for (std::int64_t c = 0; c < classes; ++c) p.push_back({std::exp(l[c] - m) / z, static_cast<std::size_t>(c)});
      std::stable_sort(p.begin(), p.end(), [](auto& a, auto& b) { return a.first > b.first; });
      if (json_out) {
        nlohmann::json top = nlohmann::json::array();
        for (std::size_t j = 0; j < k; ++j) top.push_back({{"class", names[p[j].second]}, {"probability", p[j].first}});
        out.push_back({{"image", images[i]}, {"prediction", names[p[0].second]}, {"class_index", p[0].second}, {"top", top}});
      } else {
        std::printf("%s: %s", images[i].c_str(), names[p[0].second].c_str());
        for (std::size_t j = 0; j < k; ++j) std::printf("%s %s %.1f%%", j ? "," : "  (", names[p[j].second].c_str(), 100 * p[j].first);
        std::printf(")\n");
      }
    }
    if (json_out) std::printf("%s\n", out.dump(2).c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
