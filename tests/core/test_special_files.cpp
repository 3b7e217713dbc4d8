// Readers and writers at the edges (issue 23): a FIFO, a device, a symlink to one or a folder
// where a file is expected is refused by name, never read forever or replaced; a write that
// fails (past the file size limit here) fails loudly. A reader that regressed to opening a FIFO
// would block: a helper thread then opens the FIFO's other end and closes it, so the read ends
// (with the wrong message) and the test fails instead of hanging.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>

#include "minidl/base/error.h"
#include "minidl/core/atomic_file.h"
#include "minidl/core/file_io.h"
#include "minidl/core/safetensors.h"
#include "minidl/data/fer2013_csv.h"
#include "minidl/data/idx.h"
#include "minidl/data/image_folder.h"
#include "minidl/data/image_io.h"
#include "minidl/data/split.h"
#include "minidl/data/synthetic_faces.h"

#include "test_data_helpers.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using namespace minidl;

namespace {

using minidl::data::testing::TempDir;

std::string fifo_at(const std::string& path) {
  REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
  return path;
}

// The error `f` throws, with a rescuer that unblocks a reader stuck on `fifo` after 3 s.
std::string error_of(const std::function<void()>& f, const std::string& fifo = "") {
  std::atomic<bool> done{false};
  std::thread rescuer;
  if (!fifo.empty())
    rescuer = std::thread([&] {
      const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
      while (!done && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      while (!done) {  // still reading: give it a writer that ends at once
        const int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
        if (fd >= 0) ::close(fd);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
  std::string msg = "(no error)";
  try {
    f();
  } catch (const std::exception& e) {
    msg = e.what();
  }
  done = true;
  if (rescuer.joinable()) rescuer.join();
  return msg;
}

}  // namespace

TEST_CASE("readers refuse a FIFO, a device behind a symlink and a folder, by name and at once", "[data][special]") {
  TempDir dir("special");
  const std::string fifo_png = fifo_at(dir / "x.png"), fifo_csv = fifo_at(dir / "x.csv"),
                    fifo_idx = fifo_at(dir / "x-idx3-ubyte"), fifo_st = fifo_at(dir / "x.safetensors");
  // /dev/null, not /dev/zero: a reader that regressed must end (on an empty file), not fill memory.
  const std::string dev = dir / "dev.png";
  fs::create_symlink("/dev/null", dev);
  fs::create_directories(dir / "folder.png");

  const auto start = std::chrono::steady_clock::now();
  CHECK_THAT(error_of([&] { data::load_image_gray(fifo_png); }, fifo_png), Contains(fifo_png) && Contains("FIFO"));
  CHECK_THAT(error_of([&] { data::Fer2013Csv csv(fifo_csv); }, fifo_csv), Contains(fifo_csv) && Contains("FIFO"));
  CHECK_THAT(error_of([&] { data::read_idx(fifo_idx); }, fifo_idx), Contains(fifo_idx) && Contains("FIFO"));
  CHECK_THAT(error_of([&] { load_safetensors(fifo_st); }, fifo_st), Contains(fifo_st) && Contains("not a regular file"));
  CHECK_THAT(error_of([&] { data::load_image_gray(dev); }),
             Contains(dev) && Contains("character device") && Contains("symbolic link"));
  CHECK_THAT(error_of([&] { data::load_image_gray(dir / "folder.png"); }), Contains("folder.png") && Contains("folder"));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(3));  // no reader waited for the rescuer
}

TEST_CASE("an image folder with a FIFO named like an image: an error naming it, or skipped with skip_bad_files",
          "[data][special]") {
  TempDir dir("special");
  for (const char* c : {"A", "B"}) {
    fs::create_directories(dir / c);
    for (int i = 0; i < 3; ++i) data::save_image(dir / (std::string(c) + "/" + std::to_string(i) + ".png"), data::GrayImage(8, 8, 100));
  }
  const std::string fifo = fifo_at(dir / "B/stuck.png");
  data::ImageFolderOptions o;
  o.height = o.width = 8;
  CHECK_THAT(error_of([&] { data::ImageFolder f(dir.path().string(), o); }, fifo), Contains(fifo) && Contains("FIFO"));
  o.skip_bad_files = true;
  std::unique_ptr<data::ImageFolder> f;
  const std::string msg = error_of([&] { f = std::make_unique<data::ImageFolder>(dir.path().string(), o); }, fifo);
  INFO(msg);
  REQUIRE(f != nullptr);
  CHECK(f->size() == 6);
  CHECK(f->skipped_files() == 1);
}

TEST_CASE("AtomicFile replaces only a regular file: never a FIFO, a device or a symbolic link", "[core][special]") {
  TempDir dir("special");
  const std::string target = dir / "target.txt";
  write_file_atomic(target, std::string("old"));
  const std::string link = dir / "link.txt", fifo = fifo_at(dir / "fifo.txt"), dev = dir / "dev.txt";
  fs::create_symlink(target, link);
  for (const std::string& p : {link, fifo}) {
    INFO(p);
    CHECK_THAT(error_of([&] { write_file_atomic(p, std::string("new")); }), Contains(p) && Contains("refusing to replace"));
  }
  CHECK(fs::is_symlink(link));
  CHECK(fs::is_fifo(fifo));
  CHECK(read_regular_file(target) == "old");
  // A regular file is replaced, and nothing is left beside it.
  write_file_atomic(target, std::string("new"));
  CHECK(read_regular_file(target) == "new");
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir.path())) files += e.path().filename().string().find(".tmp") == std::string::npos;
  CHECK(files == 3);
}

TEST_CASE("AtomicFile: a write past the file size limit fails with the path and the reason, leaving the old file",
          "[core][special]") {
  TempDir dir("special");
  const std::string path = dir / "big.bin";
  write_file_atomic(path, std::string("old"));
  // As `ulimit -f 16` would; SIGXFSZ ignored, as the apps do (app_main.h), so that write fails.
  struct rlimit old {};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &old) == 0);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = old;
  small.rlim_cur = 16 * 1024;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
  const std::string msg = error_of([&] {
    AtomicFile f(path, "test");
    const std::string chunk(4096, 'x');
    for (int i = 0; i < 8; ++i) f.write(chunk);
    f.commit();
  });
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &old) == 0);
  std::signal(SIGXFSZ, old_handler);
  CHECK_THAT(msg, Contains(path) && Contains("File too large"));
  CHECK(read_regular_file(path) == "old");
  CHECK(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()) == 1);  // no temporary file left
}

TEST_CASE("FER2013 CSV: a negative pixel value is out of range, not 'not an integer'", "[data][special]") {
  TempDir dir("special");
  std::string pixels;
  for (int i = 0; i < 16; ++i) pixels += (i ? " " : "") + std::string(i == 5 ? "-1" : "7");
  const std::string path = dir / "neg.csv";
  write_file_atomic(path, "emotion,pixels,Usage\n3," + pixels + ",Training\n");
  data::Fer2013Options o;
  o.side = 4;
  o.height = o.width = 4;
  CHECK_THAT(error_of([&] { data::Fer2013Csv csv(path, o); }),
             Contains("neg.csv:2:") && Contains("pixel value 6 '-1' is not in 0..255"));
}

TEST_CASE("stratified_head keeps the class balance and every class", "[data]") {
  data::SyntheticFacesOptions so;
  so.size = 700;
  so.height = so.width = 16;
  const data::SyntheticFaces faces(so);
  const auto counts = faces.class_counts();
  for (const std::int64_t n : {7, 50, 333}) {
    INFO("n " << n);
    const auto idx = data::stratified_head(faces, n);
    REQUIRE(static_cast<std::int64_t>(idx.size()) == n);
    CHECK(std::is_sorted(idx.begin(), idx.end()));
    std::vector<std::int64_t> got(counts.size(), 0);
    for (auto i : idx) ++got[static_cast<std::size_t>(faces.label(i))];
    for (std::size_t c = 0; c < counts.size(); ++c) {
      INFO("class " << c << ": " << got[c] << " of " << counts[c]);
      const double share = static_cast<double>(n) * static_cast<double>(counts[c]) / 700.0;
      CHECK(got[c] >= 1);  // every class present
      CHECK(std::abs(static_cast<double>(got[c]) - share) <= 1.0 + (share < 1 ? 1 : 0));
    }
  }
  CHECK(data::stratified_head(faces, 5000).size() == 700);
}
