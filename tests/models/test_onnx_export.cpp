// ONNX export: the protobuf encoder against the bytes the protobuf documentation gives, and the
// exported model against tools that are not ours: the ONNX checker (Debian's python3-onnx),
// and the logits of onnxruntime (PyPI, where the machine reaches it) and OpenCV's DNN module
// (Debian's python3-opencv) against minidl's on synthetic and real inputs.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "minidl/core/autograd.h"
#include "minidl/core/protobuf.h"
#include "minidl/core/rng.h"
#include "minidl/core/safetensors.h"
#include "minidl/data/cascade.h"
#include "minidl/data/face_crop.h"
#include "minidl/data/image_io.h"
#include "minidl/data/synthetic_faces.h"
#include "minidl/models/onnx_export.h"
#include "test_assets.h"
#include "test_data_helpers.h"

using namespace minidl;
using Catch::Matchers::Contains;

TEST_CASE("protobuf: varints, fixed32, strings and nested messages as the encoding guide writes them", "[onnx]") {
  auto hex = [](const std::string& s) {
    std::string h;
    char b[4];
    for (unsigned char c : s) {
      std::snprintf(b, sizeof b, "%02x", c);
      h += b;
    }
    return h;
  };
  // https://protobuf.dev/programming-guides/encoding/: field 1 = 150 is 08 96 01; field 2 =
  // "testing" is 12 07 74 65 73 74 69 6e 67; a message with field 3 = that first message is
  // 1a 03 08 96 01.
  protobuf::Writer a;
  a.varint(1, 150);
  CHECK(hex(a.str()) == "089601");
  protobuf::Writer b;
  b.bytes(2, "testing");
  CHECK(hex(b.str()) == "120774657374696e67");
  protobuf::Writer c;
  c.message(3, a);
  CHECK(hex(c.str()) == "1a03089601");
  // int64 -1: ten bytes of two's complement; 0 and 300 (ac 02); a float 1.0f (00 00 80 3f).
  protobuf::Writer d;
  d.varint(1, -1).varint(1, 0).varint(1, 300).fixed32(2, 1.0f);
  CHECK(hex(d.str()) == "08ffffffffffffffffff01" "0800" "08ac02" "150000803f");
  // Field numbers past 15 take two key bytes: ONNX's AttributeProto.type is field 20 (a0 01).
  protobuf::Writer e;
  e.varint(20, 7);
  CHECK(hex(e.str()) == "a00107");
}

namespace {

// A model whose batch norms matter: running statistics and affine parameters far from 1 and 0,
// so a runtime that used batch statistics or ignored a parameter would be far off.
std::shared_ptr<ResNet> model_with_statistics(std::int64_t classes, std::int64_t width, std::uint64_t seed) {
  manual_seed(seed);
  auto model = resnet18(1, classes, width);
  std::mt19937 gen(static_cast<std::uint32_t>(seed));
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (auto& [name, t] : model->state_dict()) {
    if (t.dtype() != DType::Float32) continue;
    std::vector<float> v(static_cast<std::size_t>(t.numel()));
    const bool bn_var = name.find("running_var") != std::string::npos;
    const bool bn = name.find("bn") != std::string::npos || name.find("downsample.1") != std::string::npos;
    if (!bn) continue;
    for (auto& x : v)
      x = static_cast<float>(bn_var ? 0.5 + 2.0 * u(gen) : name.find("weight") != std::string::npos ? 0.5 + u(gen) : u(gen) - 0.5);
    t.copy_(Tensor::from_vector(v, t.shape()));
  }
  model->eval();
  return model;
}

void write_f32(const std::string& path, const std::vector<float>& v) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float)));
  REQUIRE(f.good());
}

// Runs check_onnx.py on an exported file against `model`'s logits on `input`, checks every
// runtime's error, and returns its output ("" when it skipped for want of a runtime).
std::string check_file_against_runtimes(const std::string& onnx_file, ResNet& model, const std::vector<float>& input,
                                        std::int64_t n, std::int64_t size, const std::string& what) {
  data::testing::TempDir dir("onnx_check");
  NoGradGuard no_grad;
  const Tensor logits = model.forward(Tensor::from_vector(input, {n, 1, size, size}));
  const std::int64_t classes = logits.size(1);
  write_f32(dir / "x.f32", input);
  write_f32(dir / "y.f32", logits.to_vector<float>());
  std::string out;
  const int rc = minidl::test::run_command(test_assets::onnx_python() + " " + test_assets::script("check_onnx.py") + " " +
                                              onnx_file + " " + (dir / "x.f32") + " " + (dir / "y.f32") + " " +
                                              std::to_string(n) + " 1 " + std::to_string(size) + " " + std::to_string(size) +
                                              " " + std::to_string(classes) + " 1e-4", &out);
  std::printf("%s:\n%s", what.c_str(), out.c_str());
  INFO(what << "\n" << out);
  if (rc == 3) {
    test_assets::skip("onnx", "no ONNX runtime (onnxruntime from PyPI, or Debian's python3-opencv)");
    return "";
  }
  CHECK(rc == 0);
  CHECK_THAT(out, Contains("checker ok") && Contains("runtime "));
  CHECK(out.find("FAILED") == std::string::npos);
  return out;
}

// Exports with the library function, then checks the file as above.
void check_against_runtimes(ResNet& model, const std::vector<float>& input, std::int64_t n, std::int64_t size,
                            const std::string& what) {
  data::testing::TempDir dir("onnx");
  OnnxExportOptions o;
  o.input_height = o.input_width = size;
  o.metadata = {{"normalization", "x = (pixel / 255 - 0.5) / 0.25"},
                {"class_names", "[]"},
                {"minidl.normalize", "{\"mean\":0.5,\"std\":0.25}"}};
  export_onnx(model, dir / "model.onnx", o);
  check_file_against_runtimes(dir / "model.onnx", model, input, n, size, what);
}

}  // namespace

TEST_CASE("export_onnx: the checker accepts the model and other runtimes give minidl's logits within 1e-4",
          "[onnx]") {
  if (test_assets::onnx_python().empty()) {
    test_assets::skip("onnx", "no python3 that imports onnx (Debian's python3-onnx; scripts/install-deps.sh --test)");
    return;
  }
  std::mt19937 gen(11);
  std::normal_distribution<float> normal(0.f, 1.f);

  SECTION("the FER model's shape (7 classes, 64x64), synthetic and real inputs") {
    auto model = model_with_statistics(7, 8, 3);
    std::vector<float> x;
    // Random normal images.
    for (int i = 0; i < 3 * 64 * 64; ++i) x.push_back(normal(gen));
    // Faces from the built-in generator, normalised as a checkpoint would say.
    data::SyntheticFacesOptions so;
    so.size = 3;
    data::SyntheticFaces faces(so);
    for (std::int64_t i = 0; i < 3; ++i)
      for (auto p : faces.get(i).image.pixels) x.push_back(static_cast<float>((p / 255.0 - 0.5) / 0.25));
    std::int64_t n = 6;
    // Faces cropped from real photos, when the test photos are here.
    if (const std::string dir = test_assets::photos_dir(); !dir.empty()) {
      for (const char* f : {"grace_hopper_512x512.jpg", "astronaut.png"}) {
        const data::GrayImage img = data::load_image_gray(dir + "/" + f);
        const data::GrayImage crop = data::crop_face(img, {img.w / 3, img.h / 6, img.w / 3, img.w / 3}, 64);
        for (auto p : crop.pixels) x.push_back(static_cast<float>((p / 255.0 - 0.5) / 0.25));
        ++n;
      }
    } else {
      std::printf("(the test photos are not here, so no real-photo inputs: %s)\n", test_assets::photos_hint().c_str());
    }
    check_against_runtimes(*model, x, n, 64, "width 8, 64x64, 7 classes");
  }
  SECTION("another input size, class count and width") {
    auto model = model_with_statistics(3, 4, 5);
    std::vector<float> x;
    for (int i = 0; i < 5 * 48 * 48; ++i) x.push_back(normal(gen));
    check_against_runtimes(*model, x, 5, 48, "width 4, 48x48, 3 classes");
  }
  SECTION("grouped and dilated convolutions: the Conv nodes' group and dilations") {
    // Two of the model's 3x3 convolutions replaced by ones of the same output size: a depthwise
    // one with dilation 2 (padding 2) and one of two groups with dilation 3 (padding 3). A file
    // that wrote group 1 or dilations [1, 1] would not even load (weight shape) or would give
    // other logits.
    auto model = model_with_statistics(7, 8, 4);
    manual_seed(5);
    model->replace_module("layer1.0.conv2", std::make_shared<Conv2d>(Conv2dSpec{8, 8, 3, 1, 2, 2, 8, false}));
    model->replace_module("layer2.1.conv1", std::make_shared<Conv2d>(Conv2dSpec{16, 16, 3, 1, 3, 3, 2, false}));
    std::vector<float> x;
    for (int i = 0; i < 2 * 32 * 32; ++i) x.push_back(normal(gen));
    check_against_runtimes(*model, x, 2, 32, "width 8, 32x32, depthwise dilated and grouped dilated convolutions");
  }
}

TEST_CASE("export_onnx: options are checked", "[onnx]") {
  auto model = resnet18(1, 7, 4);
  OnnxExportOptions o;
  o.opset = 9;
  CHECK_THROWS_WITH(onnx_model_bytes(*model, o), Contains("opset 9"));
  o.opset = 17;
  o.input_height = 0;
  CHECK_THROWS_WITH(onnx_model_bytes(*model, o), Contains("input size"));
  o.input_height = 64;
  data::testing::TempDir dir("onnx_opts");
  CHECK_THROWS_WITH(export_onnx(*model, dir / "no/such/dir/m.onnx", o), Contains("does not exist"));
  export_onnx(*model, dir / "m.onnx", o);
  const std::string bytes = data::testing::read_file(dir / "m.onnx");
  CHECK(bytes == onnx_model_bytes(*model, o));  // deterministic, and what the file holds
}

TEST_CASE("export_onnx app: a checkpoint in, a file that runtimes run with minidl's logits and its metadata", "[onnx][apps]") {
  if (test_assets::onnx_python().empty()) {
    test_assets::skip("onnx", "no python3 that imports onnx (Debian's python3-onnx; scripts/install-deps.sh --test)");
    return;
  }
  const std::string app = std::string(MINIDL_BINARY_DIR) + "/apps/export_onnx";
  data::testing::TempDir dir("onnx_app");
  // A checkpoint as train_resnet writes one: weights and the model's description in metadata.
  auto model = model_with_statistics(3, 4, 9);
  std::map<std::string, Tensor> sd;
  for (auto& [k, v] : model->state_dict()) sd[k] = v;
  save_safetensors(dir / "best.safetensors", sd,
                   {{"minidl.width", "4"},
                    {"minidl.input_size", "48"},
                    {"minidl.class_names", "[\"cat\",\"dog\",\"owl\"]"},
                    {"minidl.normalize", "{\"mean\":0.25,\"std\":0.125}"}});
  std::string out;
  REQUIRE(minidl::test::run_command(app + " --checkpoint " + (dir / "best.safetensors") + " --out " + (dir / "m.onnx"), &out) == 0);
  CHECK_THAT(out, Contains("input [N, 1, 48, 48], 3 classes"));
  std::mt19937 gen(5);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> x;
  for (int i = 0; i < 2 * 48 * 48; ++i) x.push_back(normal(gen));
  const std::string checked = check_file_against_runtimes(dir / "m.onnx", *model, x, 2, 48, "export_onnx app, width 4, 48x48");
  if (!checked.empty()) {
    CHECK_THAT(checked, Contains("normalization 'x = (pixel / 255 - 0.25) / 0.125'"));
    CHECK_THAT(checked, Contains("class_names [\"cat\",\"dog\",\"owl\"]"));
  }
  // Bad input is refused with the file named, and nothing is written.
  std::string no_folder, not_checkpoint;  // run_command appends: one string a run
  CHECK(minidl::test::run_command(app + " --checkpoint " + (dir / "best.safetensors") + " --out " + (dir / "no/such/m.onnx"), &no_folder) == 1);
  CHECK_THAT(no_folder, Contains("no/such/m.onnx"));
  CHECK(minidl::test::run_command(app + " --checkpoint " + (dir / "m.onnx") + " --out " + (dir / "x.onnx"), &not_checkpoint) == 1);
  CHECK_THAT(not_checkpoint, Contains("m.onnx"));
  CHECK_FALSE(std::filesystem::exists(dir / "x.onnx"));
}
