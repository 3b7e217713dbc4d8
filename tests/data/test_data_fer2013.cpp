// The FER2013 CSV reader, on small files written here; every bad-input case names the file,
// the line and what was wrong.
#include <catch2/catch.hpp>

#include <sstream>

#include "minidl/data/fer2013_csv.h"
#include "test_data_helpers.h"

using namespace minidl;
using namespace minidl::data;
using namespace minidl::data::testing;
using Catch::Matchers::Contains;

namespace {

// n pixel values v0, v0+1, ... separated by spaces.
std::string pixels(int n, int v0 = 0) {
  std::ostringstream os;
  for (int i = 0; i < n; ++i) os << (i ? " " : "") << (v0 + i) % 256;
  return os.str();
}

Fer2013Options small(int side = 4) {
  Fer2013Options o;
  o.side = side;
  o.height = o.width = side;
  return o;
}

}  // namespace

TEST_CASE("FER2013 CSV: rows, labels, Usage and pixels", "[data]") {
  TempDir dir("fer");
  const std::string path = dir / "fer.csv";
  write_file(path, "emotion,pixels,Usage\n"
                   "0," + pixels(16, 0) + ",Training\n"
                   "3," + pixels(16, 100) + ",PublicTest\n"
                   "6," + pixels(16, 240) + ",PrivateTest\n"
                   "5," + pixels(16, 7) + ",Training\n");
  Fer2013Csv csv(path, small());
  REQUIRE(csv.size() == 4);
  CHECK(csv.has_usage());
  CHECK(csv.num_classes() == 7);
  CHECK(csv.class_names()[1] == "Disgust");
  CHECK(csv.labels() == std::vector<std::int64_t>{0, 3, 6, 5});
  CHECK(csv.usage(1) == Fer2013Csv::Usage::PublicTest);
  CHECK(csv.indices_with_usage(Fer2013Csv::Usage::Training) == std::vector<std::int64_t>{0, 3});
  CHECK(csv.indices_with_usage(Fer2013Csv::Usage::PrivateTest) == std::vector<std::int64_t>{2});
  const Sample s = csv.get(2);
  CHECK(s.label == 6);
  REQUIRE(s.image.h == 4);
  CHECK(s.image.at(0, 0) == 240);
  CHECK(s.image.at(0, 3) == 243);
  CHECK(s.image.at(3, 3) == (240 + 15) % 256);
  CHECK(csv.skipped_rows() == 0);
  CHECK_THROWS_AS(csv.get(4), Error);
}

TEST_CASE("FER2013 CSV: real 48x48 rows resized to the model input", "[data]") {
  TempDir dir("fer48");
  std::ostringstream row;
  for (int i = 0; i < 48 * 48; ++i) row << (i ? " " : "") << 77;
  write_file(dir / "fer.csv", "emotion,pixels,Usage\n4," + row.str() + ",Training\n");
  Fer2013Options o;  // defaults: 48x48 stored, 48x48 out
  CHECK(Fer2013Csv(dir / "fer.csv", o).get(0).image.h == 48);
  o.height = o.width = 64;
  const Sample s = Fer2013Csv(dir / "fer.csv", o).get(0);
  CHECK(s.image.h == 64);
  CHECK(s.image.w == 64);
  for (auto p : s.image.pixels) REQUIRE(p == 77);
}

TEST_CASE("FER2013 CSV: tolerated variations", "[data]") {
  TempDir dir("fervar");
  SECTION("CRLF, a BOM, quotes, blank lines, header case and spacing") {
    write_file(dir / "f.csv", "\xEF\xBB\xBF" "Emotion, Pixels ,usage\r\n"
                              "2,\"" + pixels(16) + "\",training\r\n\r\n"
                              " 1 , " + pixels(16) + " ,PUBLICTEST\r\n\n");
    Fer2013Csv csv(dir / "f.csv", small());
    CHECK(csv.size() == 2);
    CHECK(csv.label(1) == 1);
    CHECK(csv.usage(0) == Fer2013Csv::Usage::Training);
  }
  SECTION("no Usage column") {
    write_file(dir / "f.csv", "emotion,pixels\n2," + pixels(16) + "\n");
    Fer2013Csv csv(dir / "f.csv", small());
    CHECK_FALSE(csv.has_usage());
    CHECK(csv.usage(0) == Fer2013Csv::Usage::None);
  }
  SECTION("columns in another order") {
    write_file(dir / "f.csv", "pixels,emotion\n" + pixels(16) + ",3\n");
    CHECK(Fer2013Csv(dir / "f.csv", small()).label(0) == 3);
  }
}

TEST_CASE("FER2013 CSV: each bad row names file, line and problem", "[data]") {
  TempDir dir("ferbad");
  const std::string path = dir / "bad.csv";
  const std::string header = "emotion,pixels,Usage\n";
  const std::string good = "1," + pixels(16) + ",Training\n";
  auto error_for = [&](const std::string& bad_row) {
    write_file(path, header + good + bad_row + good);
    return data_error_of([&] { Fer2013Csv(path, small()); });
  };
  CHECK_THAT(error_for("1," + pixels(15) + ",Training\n"),
             Contains("bad.csv:3:") && Contains("expected 16 pixel values") && Contains("found 15"));
  CHECK_THAT(error_for("1," + pixels(17) + ",Training\n"), Contains("bad.csv:3:") && Contains("found 17"));
  CHECK_THAT(error_for("1,1 2 3 x4 " + pixels(12) + ",Training\n"),
             Contains("bad.csv:3:") && Contains("pixel value 4") && Contains("'x4'") && Contains("not an integer"));
  CHECK_THAT(error_for("1,1 2 256 " + pixels(13) + ",Training\n"),
             Contains("bad.csv:3:") && Contains("not in 0..255"));
  CHECK_THAT(error_for("1,1 2 -3 " + pixels(13) + ",Training\n"), Contains("bad.csv:3:") && Contains("'-3'"));
  CHECK_THAT(error_for("happy," + pixels(16) + ",Training\n"),
             Contains("bad.csv:3:") && Contains("emotion 'happy' is not an integer"));
  CHECK_THAT(error_for("," + pixels(16) + ",Training\n"), Contains("bad.csv:3:") && Contains("emotion field is empty"));
  CHECK_THAT(error_for("7," + pixels(16) + ",Training\n"),
             Contains("bad.csv:3:") && Contains("emotion 7 is outside the 7 classes 0..6"));
  CHECK_THAT(error_for("-1," + pixels(16) + ",Training\n"), Contains("bad.csv:3:") && Contains("outside"));
  CHECK_THAT(error_for("1.5," + pixels(16) + ",Training\n"), Contains("bad.csv:3:") && Contains("not an integer"));
  CHECK_THAT(error_for("1," + pixels(16) + ",Validation\n"),
             Contains("bad.csv:3:") && Contains("Usage 'Validation' is not Training, PublicTest or PrivateTest"));
  CHECK_THAT(error_for("1," + pixels(16) + "\n"),
             Contains("bad.csv:3:") && Contains("expected 3 comma-separated fields, found 2"));
  CHECK_THAT(error_for("1," + pixels(16) + ",Training,extra\n"), Contains("bad.csv:3:") && Contains("found 4"));
  CHECK_THAT(error_for("1,\"" + pixels(16) + ",Training\n"), Contains("bad.csv:3:") && Contains("unterminated"));
}

TEST_CASE("FER2013 CSV: missing, wrong or empty header and empty files", "[data]") {
  TempDir dir("ferhdr");
  const std::string path = dir / "h.csv";
  const std::string row = "1," + pixels(16) + ",Training\n";
  write_file(path, row + row);
  CHECK_THAT(data_error_of([&] { Fer2013Csv(path, small()); }),
             Contains("h.csv:1:") && Contains("no header") && Contains("emotion,pixels,Usage"));
  write_file(path, "label,pixels,Usage\n" + row);
  CHECK_THAT(data_error_of([&] { Fer2013Csv(path, small()); }), Contains("h.csv:1:") && Contains("wrong header"));
  write_file(path, "emotion,Usage\n" + row);
  CHECK_THAT(data_error_of([&] { Fer2013Csv(path, small()); }), Contains("h.csv:1:") && Contains("wrong header"));
  write_file(path, "emotion,pixels,pixels\n" + row);
  CHECK_THAT(data_error_of([&] { Fer2013Csv(path, small()); }), Contains("h.csv:1:") && Contains("wrong header"));
  write_file(path, "");
  CHECK_THAT(data_error_of([&] { Fer2013Csv(path, small()); }), Contains("h.csv") && Contains("empty file"));
  write_file(path, "emotion,pixels,Usage\n\n");
  CHECK_THAT(data_error_of([&] { Fer2013Csv(path, small()); }), Contains("h.csv") && Contains("no data rows"));
  CHECK_THAT(data_error_of([&] { Fer2013Csv(dir / "missing.csv", small()); }),
             Contains("missing.csv") && Contains("cannot open"));
}

TEST_CASE("FER2013 CSV: skip_bad_rows skips and counts", "[data]") {
  TempDir dir("ferskip");
  const std::string path = dir / "s.csv";
  write_file(path, "emotion,pixels,Usage\n"
                   "1," + pixels(16) + ",Training\n"
                   "9," + pixels(16) + ",Training\n"
                   "2," + pixels(3) + ",Training\n"
                   "4," + pixels(16) + ",PublicTest\n");
  Fer2013Options o = small();
  o.skip_bad_rows = true;
  Fer2013Csv csv(path, o);
  CHECK(csv.size() == 2);
  CHECK(csv.labels() == std::vector<std::int64_t>{1, 4});
  CHECK(csv.skipped_rows() == 2);
  REQUIRE(csv.skipped_messages().size() == 2);
  CHECK_THAT(csv.skipped_messages()[0], Contains("s.csv:3:"));
  CHECK_THAT(csv.skipped_messages()[1], Contains("s.csv:4:"));
  CHECK_THAT(csv.description(), Contains("2 bad rows skipped"));
  // Nothing usable left is still an error.
  write_file(path, "emotion,pixels,Usage\n9," + pixels(16) + ",Training\n");
  CHECK_THAT(data_error_of([&] { Fer2013Csv(path, o); }), Contains("no usable rows") && Contains("1 bad rows"));
}
