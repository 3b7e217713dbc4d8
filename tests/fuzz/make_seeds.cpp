// Writes the seed corpora of the fuzz targets: a few small valid inputs per reader, so that the
// fuzzers start from the formats' real structure. Their output is committed under
// tests/fuzz/corpus/<target>/; rerun after changing what an input means (fuzz_inputs.h):
//   build-fuzz/tests/fuzz/make_seeds tests/fuzz/corpus
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "minidl/core/safetensors.h"
#include "minidl/core/tensor.h"
#include "minidl/data/image_io.h"

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

namespace {

fs::path g_root;

void put(const std::string& target, const std::string& name, const Bytes& b) {
  fs::create_directories(g_root / target);
  std::ofstream(g_root / target / name, std::ios::binary).write(reinterpret_cast<const char*>(b.data()),
                                                                 static_cast<std::streamsize>(b.size()));
}
void put(const std::string& target, const std::string& name, std::uint8_t mode, const std::string& text) {
  Bytes b{mode};
  b.insert(b.end(), text.begin(), text.end());
  put(target, name, b);
}

Bytes slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

Bytes gzip(const Bytes& in) {
  z_stream zs{};
  deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  Bytes out(deflateBound(&zs, static_cast<uLong>(in.size())) + 32);
  zs.next_in = const_cast<Bytef*>(in.data());
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

Bytes idx_file(const std::vector<std::uint32_t>& dims, std::uint8_t fill_seed) {
  Bytes b{0, 0, 0x08, static_cast<std::uint8_t>(dims.size())};
  std::size_t n = 1;
  for (auto d : dims) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(d >> s));
    n *= d;
  }
  for (std::size_t i = 0; i < n; ++i) b.push_back(static_cast<std::uint8_t>(fill_seed + 37 * i));
  return b;
}

minidl::data::GrayImage face(std::int64_t h, std::int64_t w) {
  minidl::data::GrayImage g(h, w);
  for (std::int64_t y = 0; y < h; ++y)
    for (std::int64_t x = 0; x < w; ++x) g.at(y, x) = static_cast<std::uint8_t>((x * 40 + y * 25) % 256);
  return g;
}

void safetensors_seeds() {
  using minidl::Tensor;
  const fs::path tmp = g_root / "tmp.safetensors";
  auto save = [&](const std::string& name, const std::map<std::string, Tensor>& t,
                  const std::map<std::string, std::string>& meta) {
    minidl::save_safetensors(tmp.string(), t, meta);
    put("safetensors", name, slurp(tmp));
    fs::remove(tmp);
  };
  save("weights_f32.safetensors",
       {{"conv1.weight", Tensor::from_vector(std::vector<float>{1, -2, 3.5f, 0, 4, 5}, {2, 3})},
        {"fc.bias", Tensor::from_vector(std::vector<float>{0.25f, -1})}},
       {{"minidl.arch", "resnet18"}, {"minidl.classes", "[\"a\",\"b\"]"}});
  save("mixed_dtypes.safetensors",
       {{"a", Tensor::from_vector(std::vector<double>{1.5, 2.5, -3})},
        {"n", Tensor::from_vector(std::vector<std::int64_t>{7, -1})},
        {"scalar", Tensor::scalar(42)},
        {"empty", Tensor::zeros({0, 3})}},
       {});
  // Written by hand: no metadata, unpadded header, the reference layout of one tensor.
  const std::string h = R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  Bytes b(8);
  b[0] = static_cast<std::uint8_t>(h.size());
  b.insert(b.end(), h.begin(), h.end());
  for (std::uint8_t v : {0, 0, 128, 63}) b.push_back(v);  // 1.0f
  put("safetensors", "handwritten.safetensors", b);
}

void fer_seeds() {
  // Mode byte: side - 1 in bits 0-2, skip_bad_rows bit 3, resize bit 4 (fuzz_inputs.h).
  put("fer2013_csv", "side2_usage.csv", 1,
      "emotion,pixels,Usage\n0,0 255 17 3,Training\n6,1 2 3 4,PublicTest\n3,9 8 7 6,PrivateTest\n");
  put("fer2013_csv", "side3_no_usage_crlf.csv", 2, "emotion,pixels\r\n5,1 2 3 4 5 6 7 8 9\r\n2,9 9 9 9 9 9 9 9 9\r\n\r\n");
  put("fer2013_csv", "side2_quoted_bom.csv", 1 | 16,
      "\xEF\xBB\xBF\"emotion\",\"pixels\",\"Usage\"\n1,\"10 20 30 40\",\"Training\"\n4,\"5 6 7 8\",training\n");
  put("fer2013_csv", "side1_skip_bad.csv", 0 | 8, "pixels,emotion,usage\n12,0,Training\nx,1,Training\n300,2,Training\n7,9,Oops\n1,2\n");
  put("fer2013_csv", "side4_reordered.csv", 3,
      "Usage,emotion,pixels\nTraining,0,0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n");
}

void idx_seeds() {
  const Bytes labels = idx_file({6}, 1), images = idx_file({2, 3, 4}, 9), four = idx_file({1, 2, 2, 2}, 3);
  auto with_mode = [](std::uint8_t mode, const Bytes& b) {
    Bytes out{mode};
    out.insert(out.end(), b.begin(), b.end());
    return out;
  };
  put("idx", "labels_raw.idx", with_mode(0, labels));
  put("idx", "images_raw.idx", with_mode(0, images));
  put("idx", "images_gz_here.idx", with_mode(1, images));
  put("idx", "four_dims_gz_here.idx", with_mode(1, four));
  put("idx", "labels_gzip_file.idx.gz", with_mode(0, gzip(labels)));
  put("idx", "images_gzip_file.idx.gz", with_mode(0, gzip(images)));
}

void image_seeds() {
  const fs::path tmp_dir = g_root / "tmp_images";
  fs::create_directories(tmp_dir);
  for (const char* ext : {"png", "bmp", "jpg"}) {
    const fs::path p = tmp_dir / (std::string("gray_6x5.") + ext);
    minidl::data::save_image(p.string(), face(5, 6));
    put("image", p.filename().string(), slurp(p));
  }
  fs::remove_all(tmp_dir);
  // Colour and alpha variants stb_image_write does not make for us: written by hand.
  auto text_then = [](const std::string& header, const Bytes& px) {
    Bytes b(header.begin(), header.end());
    b.insert(b.end(), px.begin(), px.end());
    return b;
  };
  put("image", "gray_3x2.pgm", text_then("P5\n3 2\n255\n", {0, 50, 100, 150, 200, 250}));
  put("image", "rgb_2x2.ppm", text_then("P6\n# comment\n2 2\n255\n", {255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9}));
  put("image", "gray16_2x1.pgm", text_then("P5 2 1 65535\n", {0x12, 0x34, 0xff, 0x00}));
  // TGA: uncompressed true-colour with alpha (BGRA), 2x2, and run-length encoded gray, 3x1.
  Bytes tga{0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2, 0, 32, 8};
  for (std::uint8_t v : {0, 0, 255, 255, 0, 255, 0, 128, 255, 0, 0, 0, 30, 60, 90, 255}) tga.push_back(v);
  put("image", "bgra_2x2.tga", tga);
  put("image", "rle_gray_3x1.tga", {0, 0, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 1, 0, 8, 0, 0x82, 77});
  // GIF89a, 1x1, a two-colour palette: the classic smallest GIF.
  put("image", "pixel_1x1.gif",
      {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0x80, 0, 0, 0xff, 0xff, 0xff, 0, 0, 0, 0x21, 0xf9, 4, 1, 0, 0, 0,
       0, 0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 1, 0, 0x3b});
  // 24-bit BMP, 2x2, bottom-up rows padded to 4 bytes.
  Bytes bmp{'B', 'M', 70, 0, 0, 0, 0, 0, 0, 0, 54, 0, 0, 0, 40, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 1, 0, 24, 0,
            0, 0, 0, 0, 16, 0, 0, 0, 0x13, 0x0b, 0, 0, 0x13, 0x0b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  for (std::uint8_t v : {0, 0, 255, 255, 255, 255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 0}) bmp.push_back(v);
  put("image", "rgb_2x2.bmp", bmp);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_seeds CORPUS_DIR\n";
    return 2;
  }
  g_root = argv[1];
  fs::create_directories(g_root);
  safetensors_seeds();
  fer_seeds();
  idx_seeds();
  image_seeds();
  std::cout << "seeds written under " << g_root << "\n";
  return 0;
}
