// Pixel operations and image files: luma, resizing, decoding, and what a bad file gives.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>

#include "minidl/data/image.h"
#include "minidl/data/image_io.h"
#include "test_data_helpers.h"

using namespace minidl;
using namespace minidl::data;
using namespace minidl::data::testing;
using Catch::Matchers::Contains;

TEST_CASE("rgb_to_gray uses ITU-R 601 luma and keeps gray exact", "[data]") {
  for (int v = 0; v < 256; ++v) {
    const auto u = static_cast<std::uint8_t>(v);
    REQUIRE(rgb_to_gray(u, u, u) == u);
  }
  CHECK(rgb_to_gray(255, 0, 0) == 76);   // 0.299 * 255 = 76.2
  CHECK(rgb_to_gray(0, 255, 0) == 150);  // 0.587 * 255 = 149.7
  CHECK(rgb_to_gray(0, 0, 255) == 29);   // 0.114 * 255 = 29.1
  CHECK(rgb_to_gray(10, 200, 30) == 124);  // 2.99 + 117.4 + 3.42 = 123.81
}

TEST_CASE("to_gray reads 1 to 4 channels", "[data]") {
  const std::vector<std::uint8_t> g = {7, 9}, ga = {7, 0, 9, 255}, rgb = {255, 0, 0, 0, 0, 255},
                                   rgba = {255, 0, 0, 0, 0, 0, 255, 128};
  CHECK(to_gray(g.data(), 1, 2, 1).pixels == std::vector<std::uint8_t>{7, 9});
  CHECK(to_gray(ga.data(), 1, 2, 2).pixels == std::vector<std::uint8_t>{7, 9});
  CHECK(to_gray(rgb.data(), 1, 2, 3).pixels == std::vector<std::uint8_t>{76, 29});
  CHECK(to_gray(rgba.data(), 2, 1, 4).pixels == std::vector<std::uint8_t>{76, 29});
  CHECK_THROWS_AS(to_gray(g.data(), 1, 2, 5), Error);
}

TEST_CASE("resize averages areas when shrinking and interpolates when growing", "[data]") {
  SECTION("same size is a copy") {
    const GrayImage img = random_image(5, 7, 1);
    CHECK(resize(img, 5, 7).pixels == img.pixels);
  }
  SECTION("halving averages 2x2 blocks") {
    GrayImage img(4, 4);
    img.pixels = {0, 10, 100, 200, 20, 30, 0, 100, 1, 1, 255, 255, 3, 3, 255, 255};
    const GrayImage out = resize(img, 2, 2);
    CHECK(out.pixels == std::vector<std::uint8_t>{15, 100, 2, 255});
  }
  SECTION("3 -> 2 weighs the shared middle pixel by the part each output covers") {
    GrayImage img(1, 3);
    img.pixels = {0, 90, 180};
    // Output pixels cover [0, 1.5) and [1.5, 3): (0 + 0.5*90)/1.5 = 30, (0.5*90 + 180)/1.5 = 150.
    CHECK(resize(img, 1, 2).pixels == std::vector<std::uint8_t>{30, 150});
  }
  SECTION("growing is bilinear with centres aligned and edges clamped") {
    GrayImage img(1, 2);
    img.pixels = {0, 100};
    // Centres of 4 outputs sit at -0.25 (clamped), 0.25, 0.75, 1.25 (clamped).
    CHECK(resize(img, 1, 4).pixels == std::vector<std::uint8_t>{0, 25, 75, 100});
  }
  SECTION("each axis on its own: shrink rows, grow columns") {
    GrayImage img(2, 2);
    img.pixels = {0, 100, 50, 150};
    CHECK(resize(img, 1, 4).pixels == std::vector<std::uint8_t>{25, 50, 100, 125});
  }
  SECTION("a constant image stays constant at any size") {
    GrayImage img(48, 48, 77);
    for (auto [h, w] : {std::pair{64, 64}, {28, 28}, {13, 100}, {1, 1}})
      for (auto p : resize(img, h, w).pixels) REQUIRE(p == 77);
  }
  SECTION("48 -> 64 -> 48 stays close") {
    const GrayImage img = resize(random_image(12, 12, 3), 48, 48);  // smooth-ish
    const GrayImage back = resize(resize(img, 64, 64), 48, 48);
    double err = 0;
    for (std::size_t i = 0; i < img.pixels.size(); ++i) err += std::abs(int(img.pixels[i]) - int(back.pixels[i]));
    CHECK(err / img.pixels.size() < 6.0);
  }
  CHECK_THROWS_AS(resize(GrayImage(2, 2), 0, 3), Error);
  CHECK_THROWS_AS(resize(GrayImage(), 3, 3), Error);
}

TEST_CASE("image files: PNG and BMP round-trip exactly, JPEG closely", "[data]") {
  TempDir dir("img");
  const GrayImage img = random_image(9, 13, 5);
  for (const char* name : {"a.png", "b.bmp", "C.PNG"}) {
    save_image(dir / name, img);
    const GrayImage back = load_image_gray(dir / name);
    CHECK(back.h == 9);
    CHECK(back.w == 13);
    CHECK(back.pixels == img.pixels);
  }
  GrayImage smooth(16, 16);
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 16; ++x) smooth.at(y, x) = static_cast<std::uint8_t>(8 * x + 4 * y);
  save_image(dir / "c.jpg", smooth);
  const GrayImage j = load_image_gray(dir / "c.jpg");
  REQUIRE(j.pixels.size() == smooth.pixels.size());
  for (std::size_t i = 0; i < j.pixels.size(); ++i) REQUIRE(std::abs(int(j.pixels[i]) - int(smooth.pixels[i])) <= 8);
  CHECK_THAT(data_error_of([&] { save_image(dir / "x.gif", img); }), Contains("x.gif") && Contains("gif"));
}

TEST_CASE("encode_png gives the bytes of a PNG file", "[data]") {
  const GrayImage img = random_image(7, 5, 21);
  const std::vector<std::uint8_t> png = encode_png(img);
  REQUIRE(png.size() > 8);
  CHECK(png[1] == 'P');
  CHECK(decode_image_gray(png.data(), png.size(), "memory").pixels == img.pixels);
}

TEST_CASE("a colour BMP written by hand decodes to luma", "[data]") {
  TempDir dir("bmp");
  const std::vector<std::uint8_t> rgb = {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 200, 30, 9, 9, 9, 255, 255, 255};
  write_file(dir / "c.bmp", bmp24(2, 3, rgb));
  const GrayImage g = load_image_gray(dir / "c.bmp");
  REQUIRE(g.h == 2);
  REQUIRE(g.w == 3);
  CHECK(g.pixels == std::vector<std::uint8_t>{76, 150, 29, 124, 9, 255});
}

TEST_CASE("bad image files give a DataError naming the file", "[data]") {
  TempDir dir("badimg");
  // Loading dir/name throws a DataError that names the file and says `says`.
  auto refused = [&](const std::string& name, const std::string& says) {
    CHECK_THAT(data_error_of([&] { load_image_gray(dir / name); }), Contains(name) && Contains(says));
  };
  SECTION("missing") {
    refused("nope.png", "cannot open");
  }
  SECTION("empty") {
    write_file(dir / "empty.png", "");
    refused("empty.png", "empty");
  }
  SECTION("not an image") {
    write_file(dir / "text.png", "this is not a PNG at all, just text");
    refused("text.png", "decode");
  }
  SECTION("truncated PNG") {
    save_image(dir / "full.png", random_image(32, 32, 9));
    const std::string bytes = read_file(dir / "full.png");
    write_file(dir / "cut.png", bytes.substr(0, bytes.size() / 2));
    CHECK_THAT(data_error_of([&] { load_image_gray(dir / "cut.png"); }), Contains("cut.png"));
  }
  SECTION("truncated JPEG") {
    GrayImage smooth(32, 32);
    for (int y = 0; y < 32; ++y)
      for (int x = 0; x < 32; ++x) smooth.at(y, x) = static_cast<std::uint8_t>(4 * x + 3 * y);
    save_image(dir / "full.jpg", smooth);
    const std::string bytes = read_file(dir / "full.jpg");
    CHECK_NOTHROW(load_image_gray(dir / "full.jpg"));
    write_file(dir / "cut.jpg", bytes.substr(0, bytes.size() * 3 / 4));
    refused("cut.jpg", "truncated JPEG");
  }
  SECTION("truncated BMP") {
    std::vector<std::uint8_t> rgb(8 * 8 * 3, 100);
    const std::string bytes = bmp24(8, 8, rgb);
    write_file(dir / "whole.bmp", bytes);
    CHECK(load_image_gray(dir / "whole.bmp").pixels == std::vector<std::uint8_t>(64, 100));
    write_file(dir / "cut.bmp", bytes.substr(0, bytes.size() - 10));
    refused("cut.bmp", "truncated BMP");
  }
}

TEST_CASE("JPEG check: valid files decode, and image data cut short is refused, never read past", "[data]") {
  // tests/data/jpeg: baseline, optimised tables, progressive, 4:2:0, 4:2:2, 4:4:4, restart
  // intervals (make_fixtures.py). Each must decode. Then every cut of its image data, closed
  // with an end-of-image marker, must decode or be refused with a DataError; where the data ends
  // before the blocks stb would read, minidl's check (data/jpeg_check.h) must refuse it first
  // (stb 2.27 would read on past the end of its bit buffer: finding 5 of docs/reliability.md).
  const std::filesystem::path dir = std::filesystem::path(MINIDL_TEST_DATA_DIR) / "jpeg";
  int files = 0, cuts = 0, refused_early_end = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() != ".jpg") continue;
    ++files;
    INFO(e.path().string());
    const std::string bytes = read_file(e.path().string());
    const GrayImage whole = load_image_gray(e.path().string());
    CHECK(whole.h * whole.w > 0);
    const std::size_t sos = bytes.rfind("\xff\xda");
    REQUIRE(sos != std::string::npos);
    for (std::size_t cut = bytes.find("\xff\xda") + 4; cut + 2 < bytes.size(); ++cut, ++cuts) {
      const std::string b = bytes.substr(0, cut) + "\xff\xd9";
      try {
        decode_image_gray(reinterpret_cast<const std::uint8_t*>(b.data()), b.size(), "cut");
      } catch (const DataError& err) {
        refused_early_end += std::string(err.what()).find("ends before its blocks do") != std::string::npos;
      }
    }
  }
  std::printf("JPEG check: %d files, %d cuts, %d refused for image data ending early\n", files, cuts, refused_early_end);
  CHECK(files == 5);
  CHECK(refused_early_end > 0);  // most cuts stb refuses itself (a Huffman code longer than the bits left)
}

TEST_CASE("a PNG with an empty IDAT chunk decodes as without it", "[data]") {
  // Debian's stb 2.27 would memcpy 0 bytes to a null pointer for an empty first IDAT chunk
  // (finding 7 of docs/reliability.md); image_io drops empty IDAT chunks before stb sees them.
  const GrayImage img = random_image(5, 6, 4);
  const std::vector<std::uint8_t> png = encode_png(img);
  const std::string bytes(png.begin(), png.end());
  const std::size_t idat = bytes.find("IDAT") - 4;  // the chunk's length field
  const std::string empty_idat("\0\0\0\0IDAT\x35\xaf\x06\x1e", 12);  // length 0, type, CRC of "IDAT"
  const std::string with_empty = bytes.substr(0, idat) + empty_idat + bytes.substr(idat) ;
  const std::string two_empty = bytes.substr(0, idat) + empty_idat + empty_idat + bytes.substr(idat);
  for (const std::string& b : {with_empty, two_empty}) {
    const GrayImage got = decode_image_gray(reinterpret_cast<const std::uint8_t*>(b.data()), b.size(), "empty IDAT");
    CHECK(got.pixels == img.pixels);
  }
}

TEST_CASE("image file names are recognised by extension", "[data]") {
  CHECK(is_image_file_name("a.png"));
  CHECK(is_image_file_name("dir.x/B.JPEG"));
  CHECK(is_image_file_name("c.bmp"));
  CHECK_FALSE(is_image_file_name("notes.txt"));
  CHECK_FALSE(is_image_file_name("png"));
  CHECK_FALSE(is_image_file_name("dir.png/file"));
}
