// Image folders: class naming and order, decoding, resizing, and the bad cases.
#include <catch2/catch.hpp>

#include <filesystem>

#include "minidl/data/image_folder.h"
#include "minidl/data/image_io.h"
#include "test_data_helpers.h"

using namespace minidl;
using namespace minidl::data;
using namespace minidl::data::testing;
using Catch::Matchers::Contains;

namespace {
ImageFolderOptions size(std::int64_t h, std::int64_t w) {
  ImageFolderOptions o;
  o.height = h;
  o.width = w;
  return o;
}
}  // namespace

TEST_CASE("image folder with FER class names: canonical order, any case", "[data]") {
  TempDir dir("folderfer");
  save_in_dir(dir / "happy/b.png", GrayImage(4, 4, 30));
  save_in_dir(dir / "happy/a.png", GrayImage(4, 4, 20));
  save_in_dir(dir / "ANGRY/x.bmp", GrayImage(8, 8, 200));
  save_in_dir(dir / "Sad/nested/deeper/s.png", GrayImage(2, 2, 90));
  write_file(dir / "Sad/readme.txt", "not an image");
  write_file(dir / "Sad/.hidden.png", "ignored: hidden");
  // A colour image, converted with luma.
  std::vector<std::uint8_t> red;
  for (int i = 0; i < 16; ++i) red.insert(red.end(), {255, 0, 0});
  write_file(dir / "Sad/red.bmp", bmp24(4, 4, red));
  ImageFolder f(dir.str(), size(4, 4));
  CHECK(f.fer_classes());
  CHECK(f.class_names() == fer_class_names());
  REQUIRE(f.size() == 5);
  // Samples come in path order (folders sorted byte-wise, files recursively); labels are FER indices.
  CHECK(f.labels() == std::vector<std::int64_t>{0, 4, 4, 3, 3});
  CHECK_THAT(f.file(0), Contains("ANGRY/x.bmp"));
  CHECK_THAT(f.file(1), Contains("Sad/nested/deeper/s.png"));
  CHECK_THAT(f.file(2), Contains("Sad/red.bmp"));
  CHECK_THAT(f.file(3), Contains("happy/a.png"));
  // Resized to 4x4 (8x8 shrunk by area, 2x2 grown), converted to gray.
  for (std::int64_t i = 0; i < f.size(); ++i) {
    REQUIRE(f.get(i).image.h == 4);
    REQUIRE(f.get(i).image.w == 4);
  }
  CHECK(f.get(0).image.pixels == std::vector<std::uint8_t>(16, 200));
  CHECK(f.get(1).image.pixels == std::vector<std::uint8_t>(16, 90));
  CHECK(f.get(2).image.pixels == std::vector<std::uint8_t>(16, 76));
  CHECK(f.get(4).image.pixels == std::vector<std::uint8_t>(16, 30));
  const auto counts = f.class_counts();
  CHECK(counts == std::vector<std::int64_t>{1, 0, 0, 2, 2, 0, 0});
}

TEST_CASE("image folder with other names: sorted folder names are the classes", "[data]") {
  TempDir dir("folderany");
  save_in_dir(dir / "zebra/1.png", GrayImage(3, 3, 1));
  save_in_dir(dir / "cat/1.png", GrayImage(3, 3, 2));
  save_in_dir(dir / "cat/2.png", GrayImage(3, 3, 3));
  save_in_dir(dir / "Happy/1.png", GrayImage(3, 3, 4));  // one FER name among others does not switch modes
  ImageFolder f(dir.str(), size(3, 3));
  CHECK_FALSE(f.fer_classes());
  CHECK(f.class_names() == std::vector<std::string>{"Happy", "cat", "zebra"});
  CHECK(f.labels() == std::vector<std::int64_t>{0, 1, 1, 2});
  CHECK(f.get(2).image.at(0, 0) == 3);
}

TEST_CASE("image folder: bad layouts and bad files", "[data]") {
  TempDir dir("folderbad");
  SECTION("missing root") {
    CHECK_THAT(data_error_of([&] { ImageFolder(dir / "nope"); }), Contains("nope") && Contains("no such folder"));
  }
  SECTION("root is a file") {
    write_file(dir / "file", "x");
    CHECK_THAT(data_error_of([&] { ImageFolder(dir / "file"); }), Contains("not a folder"));
  }
  SECTION("no class folders") {
    save_in_dir(dir / "loose.png", GrayImage(2, 2, 1));
    CHECK_THAT(data_error_of([&] { ImageFolder(dir.str()); }), Contains("no class sub-folders"));
  }
  SECTION("an empty class folder") {
    save_in_dir(dir / "Happy/1.png", GrayImage(2, 2, 1));
    std::filesystem::create_directories(dir / "Sad");
    write_file(dir / "Sad/notes.txt", "no images here");
    CHECK_THAT(data_error_of([&] { ImageFolder(dir.str()); }),
               Contains("Sad") && Contains("holds no images"));
  }
  SECTION("two folders for one FER class") {
    save_in_dir(dir / "Happy/1.png", GrayImage(2, 2, 1));
    save_in_dir(dir / "happy/2.png", GrayImage(2, 2, 1));
    CHECK_THAT(data_error_of([&] { ImageFolder(dir.str()); }), Contains("two folders for the class Happy"));
  }
  SECTION("a corrupt image, then skipped") {
    save_in_dir(dir / "Happy/1.png", GrayImage(2, 2, 1));
    write_file(dir / "Happy/2.png", "garbage bytes, not a png");
    save_in_dir(dir / "Sad/1.png", GrayImage(2, 2, 1));
    CHECK_THAT(data_error_of([&] { ImageFolder(dir.str()); }), Contains("Happy/2.png") && Contains("decode"));
    ImageFolderOptions o;
    o.skip_bad_files = true;
    ImageFolder f(dir.str(), o);
    CHECK(f.size() == 2);
    CHECK(f.skipped_files() == 1);
    REQUIRE(f.skipped_messages().size() == 1);
    CHECK_THAT(f.skipped_messages()[0], Contains("Happy/2.png"));
  }
  SECTION("a class whose only image is corrupt is empty even when skipping") {
    save_in_dir(dir / "Happy/1.png", GrayImage(2, 2, 1));
    write_file(dir / "Sad/1.jpg", "");
    ImageFolderOptions o;
    o.skip_bad_files = true;
    CHECK_THAT(data_error_of([&] { ImageFolder(dir.str(), o); }), Contains("Sad") && Contains("no readable images"));
  }
}
