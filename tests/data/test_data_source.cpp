// Opening a data source with its train / validation / test parts.
#include <catch2/catch.hpp>

#include <set>
#include <sstream>

#include "minidl/data/image_io.h"
#include "minidl/data/source.h"
#include "minidl/data/split.h"
#include "test_data_helpers.h"

using namespace minidl;
using namespace minidl::data;
using namespace minidl::data::testing;
using Catch::Matchers::Contains;

TEST_CASE("data source specs parse, and bad ones say what is valid", "[data]") {
  CHECK(DataSourceOptions::parse("synthetic").kind == "synthetic");
  const auto f = DataSourceOptions::parse("fer2013:/x/y.csv");
  CHECK(f.kind == "fer2013");
  CHECK(f.path == "/x/y.csv");
  CHECK(DataSourceOptions::parse("fashion-mnist").path.empty());
  CHECK_THAT(error_of([] { DataSourceOptions::parse("mnist:/x"); }), Contains("expected synthetic, fer2013"));
  CHECK_THAT(error_of([] { DataSourceOptions::parse("folder"); }), Contains("needs a path"));
}

TEST_CASE("synthetic source: stratified train/val and a disjoint test set", "[data]") {
  DataSourceOptions o;
  o.synthetic_size = 500;
  o.synthetic_test = 100;
  o.height = o.width = 32;
  const DataSplits s = open_data(o);
  CHECK(s.train->size() + s.val->size() == 500);
  CHECK(s.val->size() == Approx(50).margin(4));
  REQUIRE(s.test);
  CHECK(s.test->size() == 100);
  CHECK(s.train->height() == 32);
  // The test faces are faces 500..599, none of the training ones.
  std::set<std::vector<std::uint8_t>> train_images;
  for (std::int64_t i = 0; i < 20; ++i) train_images.insert(s.train->get(i).image.pixels);
  for (std::int64_t i = 0; i < 20; ++i) CHECK(train_images.count(s.test->get(i).image.pixels) == 0);
}

TEST_CASE("FER2013 source uses the Usage column", "[data]") {
  TempDir dir("srcfer");
  std::ostringstream csv, row;
  for (int i = 0; i < 48 * 48; ++i) row << (i ? " " : "") << i % 200;
  csv << "emotion,pixels,Usage\n";
  const char* usage[] = {"Training", "Training", "Training", "PublicTest", "PrivateTest"};
  for (int i = 0; i < 5; ++i) csv << i << "," << row.str() << "," << usage[i] << "\n";
  write_file(dir / "fer.csv", csv.str());
  DataSourceOptions o = DataSourceOptions::parse("fer2013:" + dir / "fer.csv");
  const DataSplits s = open_data(o);
  CHECK(s.train->size() == 3);
  CHECK(s.val->size() == 1);
  CHECK(s.val->label(0) == 3);
  REQUIRE(s.test);
  CHECK(s.test->label(0) == 4);
  CHECK(s.train->height() == 48);
  CHECK_THAT(s.note, Contains("PublicTest"));
}

TEST_CASE("folder source: train/ and test/ sub-folders", "[data]") {
  TempDir dir("srcfolder");
  for (const char* part : {"train", "test"})
    for (const char* cls : {"happy", "sad"})
      for (int i = 0; i < 10; ++i)
        save_in_dir(dir / (std::string(part) + "/" + cls + "/" + std::to_string(i) + ".png"), GrayImage(5, 5, 9));
  DataSourceOptions o = DataSourceOptions::parse("folder:" + dir.str());
  o.height = o.width = 8;
  const DataSplits s = open_data(o);
  CHECK(s.train->size() == 18);
  CHECK(s.val->size() == 2);
  REQUIRE(s.test);
  CHECK(s.test->size() == 20);
  CHECK(s.test->get(0).image.h == 8);
  CHECK(s.train->class_names() == fer_class_names());
}
