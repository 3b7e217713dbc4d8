// IDX files (Fashion-MNIST's format), raw and gzip'd, good and bad.
#include <catch2/catch.hpp>

#include "minidl/config.h"

#if MINIDL_WITH_ZLIB
#include <zlib.h>
#endif

#include <cstdlib>
#include <filesystem>

#include "minidl/data/idx.h"
#include "test_data_helpers.h"

using namespace minidl;
using namespace minidl::data;
using namespace minidl::data::testing;
using Catch::Matchers::Contains;

namespace {

std::string idx_bytes(const std::vector<std::uint32_t>& dims, const std::vector<std::uint8_t>& values,
                      std::uint8_t type = 0x08) {
  std::string b = {0, 0, static_cast<char>(type), static_cast<char>(dims.size())};
  for (std::uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) b += static_cast<char>((d >> s) & 0xff);
  b.append(values.begin(), values.end());
  return b;
}

#if MINIDL_WITH_ZLIB
void write_gz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()));
  gzclose(f);
}
#endif

// 5 images of 3x4 with pixel (i, k) = 10*i + k, labels 0..4.
struct Fixture {
  std::vector<std::uint8_t> pixels, labels;
  Fixture() {
    for (int i = 0; i < 5; ++i) {
      for (int k = 0; k < 12; ++k) pixels.push_back(static_cast<std::uint8_t>(10 * i + k));
      labels.push_back(static_cast<std::uint8_t>(i));
    }
  }
  std::string images() const { return idx_bytes({5, 3, 4}, pixels); }
  std::string label_bytes() const { return idx_bytes({5}, labels); }
};

}  // namespace

#if MINIDL_WITH_ZLIB
TEST_CASE("IDX: raw and gzip'd files read the same", "[data]") {
  TempDir dir("idx");
  Fixture fx;
  write_file(dir / "img-idx3-ubyte", fx.images());
  write_file(dir / "lab-idx1-ubyte", fx.label_bytes());
  write_gz(dir / "img-idx3-ubyte.gz", fx.images());
  write_gz(dir / "lab-idx1-ubyte.gz", fx.label_bytes());
  for (const char* suffix : {"", ".gz"}) {
    IdxDataset d(dir / ("img-idx3-ubyte" + std::string(suffix)), dir / ("lab-idx1-ubyte" + std::string(suffix)));
    REQUIRE(d.size() == 5);
    CHECK(d.height() == 3);
    CHECK(d.width() == 4);
    CHECK(d.class_names() == std::vector<std::string>{"0", "1", "2", "3", "4"});
    const Sample s = d.get(3);
    CHECK(s.label == 3);
    CHECK(s.image.at(0, 0) == 30);
    CHECK(s.image.at(2, 3) == 41);
  }
  IdxOptions o;
  o.height = 6;
  o.width = 8;
  o.class_names = {"a", "b", "c", "d", "e", "f"};
  IdxDataset big(dir / "img-idx3-ubyte.gz", dir / "lab-idx1-ubyte", o);
  CHECK(big.get(0).image.h == 6);
  CHECK(big.num_classes() == 6);
  const IdxArray a = read_idx(dir / "img-idx3-ubyte.gz");
  CHECK(a.dims == std::vector<std::int64_t>{5, 3, 4});
  CHECK(a.values == fx.pixels);
}
#else
TEST_CASE("IDX: a build without zlib names a gzip'd file and what to do", "[data]") {
  TempDir dir("idxnoz");
  // A gzip member header (magic 1f 8b, deflate, no flags) in front of the IDX bytes.
  write_file(dir / "img.gz", std::string("\x1f\x8b\x08\x00", 4) + Fixture().images());
  CHECK_THAT(data_error_of([&] { read_idx(dir / "img.gz"); }), Contains("img.gz") && Contains("no zlib"));
}
#endif

TEST_CASE("IDX: truncated, corrupt and inconsistent files", "[data]") {
  TempDir dir("idxbad");
  Fixture fx;
  write_file(dir / "lab", fx.label_bytes());
  SECTION("truncated raw data names the item where it ends") {
    const std::string b = fx.images();
    write_file(dir / "img", b.substr(0, b.size() - 20));  // 16 header + 60 data -> 40 data bytes
    CHECK_THAT(data_error_of([&] { read_idx(dir / "img"); }),
               Contains(dir / "img") && Contains("truncated") && Contains("ends inside item 3 of 5"));
  }
  SECTION("truncated header") {
    write_file(dir / "img", fx.images().substr(0, 9));
    CHECK_THAT(data_error_of([&] { read_idx(dir / "img"); }), Contains(dir / "img") && Contains("truncated IDX header"));
  }
#if MINIDL_WITH_ZLIB
  SECTION("truncated gzip stream") {
    write_gz(dir / "full.gz", fx.images());
    const std::string gz = read_file(dir / "full.gz");
    write_file(dir / "cut.gz", gz.substr(0, gz.size() / 2));
    const std::string msg = data_error_of([&] { read_idx(dir / "cut.gz"); });
    CHECK_THAT(msg, Contains("cut.gz"));
    CHECK_THAT(msg, Contains("corrupt or truncated gzip data"));
  }
  SECTION("corrupt gzip stream (right length, wrong bytes)") {
    write_gz(dir / "full.gz", fx.images());
    std::string gz = read_file(dir / "full.gz");
    for (std::size_t i = 12; i < gz.size() - 8; i += 3) gz[i] = static_cast<char>(gz[i] ^ 0x5a);
    write_file(dir / "bad.gz", gz);
    CHECK_THAT(data_error_of([&] { read_idx(dir / "bad.gz"); }),
               Contains("bad.gz") && Contains("corrupt or truncated gzip data"));
  }
#endif
  SECTION("trailing bytes") {
    write_file(dir / "img", fx.images() + "xx");
    CHECK_THAT(data_error_of([&] { read_idx(dir / "img"); }),
               Contains(dir / "img") && Contains("2 bytes after the 5 items"));
  }
  SECTION("bad magic and unsupported type") {
    write_file(dir / "img", "PK" + fx.images().substr(2));
    CHECK_THAT(data_error_of([&] { read_idx(dir / "img"); }), Contains(dir / "img") && Contains("not an IDX file"));
    write_file(dir / "img", idx_bytes({5}, fx.labels, 0x0d));
    CHECK_THAT(data_error_of([&] { read_idx(dir / "img"); }), Contains(dir / "img") && Contains("element type 0xd"));
  }
  SECTION("missing file") {
    CHECK_THAT(data_error_of([&] { read_idx(dir / "nothing.gz"); }), Contains("nothing.gz") && Contains("no such file"));
  }
  SECTION("image and label counts differ") {
    write_file(dir / "img", fx.images());
    write_file(dir / "lab4", idx_bytes({4}, {0, 1, 2, 3}));
    CHECK_THAT(data_error_of([&] { IdxDataset(dir / "img", dir / "lab4"); }),
               Contains(dir / "img") && Contains(dir / "lab4") && Contains("5 images but") && Contains("4 labels"));
  }
  SECTION("a label outside the classes") {
    write_file(dir / "img", fx.images());
    IdxOptions o;
    o.class_names = {"a", "b", "c"};
    CHECK_THAT(data_error_of([&] { IdxDataset(dir / "img", dir / "lab", o); }),
               Contains(dir / "lab") && Contains("label 3 of item 3 is outside the 3 classes"));
  }
  SECTION("labels passed as images") {
    CHECK_THAT(data_error_of([&] { IdxDataset(dir / "lab", dir / "lab"); }),
               Contains(dir / "lab") && Contains("expected images [n, rows, cols]"));
  }
  SECTION("no items") {
    write_file(dir / "img0", idx_bytes({0, 3, 4}, {}));
    write_file(dir / "lab0", idx_bytes({0}, {}));
    CHECK_THAT(data_error_of([&] { IdxDataset(dir / "img0", dir / "lab0"); }),
               Contains(dir / "img0") && Contains("empty data set"));
  }
}

TEST_CASE("Fashion-MNIST as Debian installs it", "[data]") {
  // Not a reason to skip (only a GPU, MPI or PyTorch is): the files are one apt package away,
  // and a machine without them cannot run the real-file test. MINIDL_FASHION_MNIST_DIR points
  // elsewhere (a copy carried to a machine without apt).
  const char* env = std::getenv("MINIDL_FASHION_MNIST_DIR");
  const std::string dir = env != nullptr && *env != '\0' ? env : kFashionMnistDir;
  if (!std::filesystem::exists(dir + "/t10k-labels-idx1-ubyte.gz"))
    FAIL(dir << " has no Fashion-MNIST: scripts/install-deps.sh --test installs it (Debian package "
                "dataset-fashion-mnist), or set MINIDL_FASHION_MNIST_DIR");
  if (!MINIDL_WITH_ZLIB) {
    CHECK_THAT(data_error_of([&] { fashion_mnist(false, dir); }), Contains("no zlib"));
    return;
  }
  auto test = fashion_mnist(false, dir);
  CHECK(test->size() == 10000);
  CHECK(test->height() == 28);
  CHECK(test->class_names()[9] == "Ankle boot");
  const auto counts = test->class_counts();
  for (auto c : counts) CHECK(c == 1000);  // t10k is balanced
  CHECK_THAT(data_error_of([] { fashion_mnist(false, "/nonexistent"); }),
             Contains("/nonexistent") && Contains("Fashion-MNIST file not found"));
}
