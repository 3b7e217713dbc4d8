// predict as a user runs it: folders, batches, bad files, odd names, CSV and JSON, face
// detection with boxes and annotations (on images drawn here with a cascade written here, and
// on a real photo when the test photos are present).
#include <catch2/catch.hpp>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "minidl/core/safetensors.h"
#include "minidl/data/cascade.h"
#include "minidl/data/face_crop.h"
#include "minidl/data/image_io.h"
#include "minidl/models/resnet.h"
#include "test_assets.h"
#include "app_run.h"
#include "test_data_helpers.h"

namespace fs = std::filesystem;
using namespace minidl;
using namespace minidl::data;
using namespace minidl::data::testing;
using Catch::Matchers::Contains;

namespace {

const std::string kPredict = std::string(MINIDL_BINARY_DIR) + "/apps/predict";
const std::string kGolden = std::string(MINIDL_TEST_DATA_DIR) + "/golden_resnet18_w4_state.safetensors";

using Out = test::AppRun;
using test::parse_csv;

// Runs predict under a time limit (a hang is a failure, not a stuck suite).
Out predict(const std::string& args) { return test::run_app("predict", args, "", 120); }

std::string q(const std::string& s) { return "'" + s + "'"; }

// A one-stump Haar cascade that fires on a bright square in a dark window (centre 4x4 against
// the whole 8x8), so detection can be tested on images drawn here.
std::string square_cascade(const TempDir& dir) {
  const std::string path = dir / "squares.xml";
  write_file(path,
             "<?xml version=\"1.0\"?><opencv_storage><cascade type_id=\"opencv-cascade-classifier\">"
             "<stageType>BOOST</stageType><featureType>HAAR</featureType><height>8</height><width>8</width>"
             "<featureParams><maxCatCount>0</maxCatCount></featureParams><stages><_><stageThreshold>0.</stageThreshold>"
             "<weakClassifiers><_><internalNodes>0 -1 0 1.</internalNodes><leafValues>-1. 1.</leafValues></_>"
             "</weakClassifiers></_></stages><features><_><rects><_>0 0 8 8 -1.</_><_>2 2 4 4 4.</_></rects></_>"
             "</features></cascade></opencv_storage>");
  return path;
}

// A dark noisy image with bright squares (side `side`) at the given corners.
GrayImage squares_image(std::int64_t h, std::int64_t w, const std::vector<std::pair<std::int64_t, std::int64_t>>& at,
                        std::int64_t side) {
  GrayImage img = random_image(h, w, 7);
  for (auto& p : img.pixels) p = static_cast<std::uint8_t>(20 + p % 30);
  for (auto [x0, y0] : at)
    for (std::int64_t y = y0; y < y0 + side; ++y)
      for (std::int64_t x = x0; x < x0 + side; ++x) img.at(y, x) = 220;
  return img;
}

}  // namespace

TEST_CASE("predict: folders are searched recursively in a fixed order, and the batch size does not change the answers",
          "[apps][predict]") {
  TempDir dir("predict_dir");
  save_in_dir(dir / "faces/b/2.png", random_image(40, 30, 2));
  save_in_dir(dir / "faces/a.png", random_image(64, 64, 1));
  save_in_dir(dir / "faces/b/c/3.bmp", random_image(20, 50, 3));
  write_file(dir / "faces/notes.txt", "not an image");
  save_in_dir(dir / "extra.png", random_image(33, 33, 4));
  const std::string args = "--json --checkpoint " + kGolden + " " + (dir / "faces") + " " + (dir / "extra.png");
  const Out one = predict(args + " --batch-size 1");
  const Out all = predict(args + " --batch-size 64 --csv " + (dir / "p.csv"));
  INFO(one.err << all.err);
  REQUIRE(one.code == 0);
  REQUIRE(all.code == 0);
  // The same answers whatever the batching (to float rounding: a convolution's sums may be
  // ordered differently for another batch size).
  const auto j = nlohmann::json::parse(all.out), j1 = nlohmann::json::parse(one.out);
  REQUIRE(j1.size() == j.size());
  for (std::size_t i = 0; i < j.size(); ++i) {
    CHECK(j1[i]["image"] == j[i]["image"]);
    CHECK(j1[i]["prediction"] == j[i]["prediction"]);
    for (auto& [k, v] : j[i]["probabilities"].items())
      CHECK(j1[i]["probabilities"][k].get<double>() == Approx(v.get<double>()).epsilon(1e-5));
  }
  REQUIRE(j.size() == 4);
  CHECK(j[0]["image"] == dir / "faces/a.png");
  CHECK(j[1]["image"] == dir / "faces/b/2.png");
  CHECK(j[2]["image"] == dir / "faces/b/c/3.bmp");
  CHECK(j[3]["image"] == dir / "extra.png");
  CHECK(j[0]["width"] == 64);
  CHECK(j[0]["probabilities"].size() == 7);
  CHECK_THAT(all.err, Contains("1 files ignored"));
  const auto rows = parse_csv(read_file(dir / "p.csv"));
  REQUIRE(rows.size() == 5);
  CHECK(rows[0][0] == "path");
  for (std::size_t r = 1; r < rows.size(); ++r) {
    CHECK(rows[r].size() == 8 + 7);
    CHECK(rows[r][1] == "image");
    CHECK(rows[r][0] == j[r - 1]["image"].get<std::string>());
    CHECK(rows[r][7] == j[r - 1]["prediction"].get<std::string>());
    CHECK(std::stod(rows[r][8]) == Approx(j[r - 1]["probabilities"]["Angry"].get<double>()).epsilon(1e-5));
  }
}

TEST_CASE("predict: memory does not grow with the number of images (fixed-size batches)", "[apps][predict]") {
  // A model with a larger input, so one batch of every image (what predict did before) takes
  // hundreds of MB: 240 images of 128x128 through a width-8 ResNet.
  TempDir dir("predict_mem");
  auto model = resnet18(1, 7, 8);
  std::map<std::string, Tensor> sd;
  for (auto& [k, v] : model->state_dict()) sd[k] = v;
  save_safetensors(dir / "m.safetensors", sd, {{"minidl.width", "8"}, {"minidl.input_size", "128"}});
  for (int i = 0; i < 240; ++i) save_in_dir(dir / ("imgs/" + std::to_string(i) + ".png"), GrayImage(24, 24, static_cast<std::uint8_t>(i)));
  // Peak resident memory of one predict run: measured in a forked child that runs nothing else,
  // and sent back through a pipe.
  auto peak_mb = [&](const std::string& args) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(fds[0]);
      const int s = std::system(("ASAN_OPTIONS=quarantine_size_mb=0:$ASAN_OPTIONS " + kPredict + " --quiet --checkpoint " +
                                 (dir / "m.safetensors") + " " + args + " >/dev/null 2>&1")
                                    .c_str());
      struct rusage ru {};
      ::getrusage(RUSAGE_CHILDREN, &ru);
      const long mb = WIFEXITED(s) && WEXITSTATUS(s) == 0 ? ru.ru_maxrss / 1024 : -1;
      const ssize_t put = ::write(fds[1], &mb, sizeof mb);
      ::_exit(put == sizeof mb ? 0 : 1);
    }
    ::close(fds[1]);
    long mb = -1;
    const ssize_t got = ::read(fds[0], &mb, sizeof mb);
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    REQUIRE(got == static_cast<ssize_t>(sizeof mb));
    REQUIRE(mb > 0);
    return mb;
  };
  fs::create_directories(dir / "few");
  for (int i = 0; i < 60; ++i) fs::copy_file(dir / ("imgs/" + std::to_string(i) + ".png"), dir / ("few/" + std::to_string(i) + ".png"));
  const long few = peak_mb("--batch-size 16 " + (dir / "few"));
  const long many = peak_mb("--batch-size 16 " + (dir / "imgs"));
  const long one_batch = peak_mb("--batch-size 240 " + (dir / "imgs"));
  std::printf("predict peak memory: 60 images %ld MB, 240 images %ld MB (batches of 16); 240 in one batch %ld MB\n", few,
              many, one_batch);
  CHECK(many <= few + 24);           // flat in the number of images
  CHECK(one_batch >= many + 100);    // and the measurement can see a batch's worth
}

TEST_CASE("predict: unreadable files are reported, and skipped only with --skip-bad, never hanging", "[apps][predict]") {
  TempDir dir("predict_bad");
  save_in_dir(dir / "d/good.png", random_image(30, 30, 1));
  write_file(dir / "d/corrupt.png", "\x89PNG\r\n\x1a\nthis is not a png");
  REQUIRE(::mkfifo((dir / "d/fifo.png").c_str(), 0600) == 0);
  fs::create_symlink("/dev/zero", dir / "d/zero.png");
  fs::create_symlink(dir / "nowhere.png", dir / "d/broken.png");

  Out r = predict("--checkpoint " + kGolden + " " + (dir / "d"));
  INFO(r.out << r.err);
  CHECK(r.code == 1);
  CHECK_THAT(r.err, Contains("not a regular file") || Contains("cannot read"));
  CHECK_THAT(r.err, Contains("--skip-bad"));
  // Each kind alone, given by name.
  for (const char* f : {"fifo.png", "zero.png", "broken.png", "corrupt.png"}) {
    r = predict("--checkpoint " + kGolden + " " + (dir / "d/good.png") + " " + (dir / (std::string("d/") + f)));
    INFO(f << ": " << r.err);
    CHECK(r.code == 1);
    CHECK_THAT(r.err, Contains(f) && Contains("--skip-bad"));
  }

  r = predict("--skip-bad --json --csv " + (dir / "out.csv") + " --checkpoint " + kGolden + " " + (dir / "d"));
  INFO(r.err);
  REQUIRE(r.code == 0);
  for (const char* f : {"fifo.png", "zero.png", "broken.png", "corrupt.png"}) CHECK_THAT(r.err, Contains(std::string("skipped ") + (dir / "d/") + f));
  CHECK_THAT(r.err, Contains("4 skipped as unreadable"));
  const auto j = nlohmann::json::parse(r.out);
  REQUIRE(j.size() == 5);
  int errors = 0;
  for (const auto& e : j) errors += e.contains("error");
  CHECK(errors == 4);
  const auto rows = parse_csv(read_file(dir / "out.csv"));
  REQUIRE(rows.size() == 6);
  int skipped = 0;
  for (const auto& row : rows) skipped += row[1].rfind("skipped: ", 0) == 0;
  CHECK(skipped == 4);
}

TEST_CASE("predict: names that are not UTF-8 or need quoting come out exactly in JSON and CSV", "[apps][predict]") {
  TempDir dir("predict_names");
  const std::string odd = dir / "caf\xe9 \xff,\"x\".png";
  save_image(odd, random_image(30, 30, 5));
  const Out r = predict("--json --csv " + (dir / "n.csv") + " --checkpoint " + kGolden + " " + q(odd));
  INFO(r.err);
  REQUIRE(r.code == 0);
  const auto j = nlohmann::json::parse(r.out);  // a strict parser accepts it
  REQUIRE(j.size() == 1);
  CHECK_THAT(j[0]["image"].get<std::string>(), Contains("caf\xef\xbf\xbd \xef\xbf\xbd,\"x\".png"));
  std::string hex;
  for (unsigned char c : odd) {
    char b[3];
    std::snprintf(b, sizeof b, "%02x", c);
    hex += b;
  }
  CHECK(j[0]["image_bytes_hex"] == hex);
  const auto rows = parse_csv(read_file(dir / "n.csv"));
  REQUIRE(rows.size() == 2);
  CHECK(rows[1][0] == odd);  // quoted as CSV needs, bytes unchanged
  CHECK(rows[1].size() == rows[0].size());
}

TEST_CASE("predict: a model whose outputs overflow is refused, not reported as NaN", "[apps][predict]") {
  // Every weight finite (so the checkpoint loads), but conv1's so large that a bright image
  // overflows float32 on its way through.
  TempDir dir("predict_overflow");
  auto model = resnet18(1, 7, 4);
  std::map<std::string, Tensor> sd;
  for (auto& [k, v] : model->state_dict()) sd[k] = v;
  sd["conv1.weight"] = Tensor::full(sd["conv1.weight"].shape(), 1e38);
  save_safetensors(dir / "big.safetensors", sd);
  save_image(dir / "white.png", GrayImage(64, 64, 255));
  const Out r = predict("--json --checkpoint " + (dir / "big.safetensors") + " " + (dir / "white.png"));
  INFO(r.out);
  CHECK(r.code == 1);
  CHECK_THAT(r.err, Contains("white.png") && Contains("not finite"));
  CHECK(r.out.find("nan") == std::string::npos);
}

TEST_CASE("predict: bad flags name the flag", "[apps][predict]") {
  TempDir dir("predict_flags");
  save_image(dir / "a.png", random_image(30, 30, 5));
  for (const std::string flag : {"--top-k 0", "--top-k -2", "--batch-size 0", "--scale-factor 1", "--face-margin 0"}) {
    const Out r = predict(flag + " --checkpoint " + kGolden + " " + (dir / "a.png"));
    INFO(flag << ": " << r.err);
    CHECK(r.code != 0);
    CHECK_THAT(r.err, Contains(flag.substr(0, flag.find(' '))));
  }
  CHECK_THAT(predict("--top-k 0 --checkpoint " + kGolden + " " + (dir / "a.png")).err, Contains("--top-k: must be a whole number of at least 1"));
  const Out both = predict("--detect-faces --no-detect-faces --checkpoint " + kGolden + " " + (dir / "a.png"));
  CHECK(both.code != 0);
  fs::create_directories(dir / "empty");
  const Out none = predict("--checkpoint " + kGolden + " " + (dir / "empty"));
  CHECK(none.code == 1);
  CHECK_THAT(none.err, Contains("no image files found in " + (dir / "empty")));
  CHECK(predict("--help").out.find("--detect-faces") != std::string::npos);
  CHECK_THAT(predict("--help").out, Contains("at least 4x the model's input"));
}

TEST_CASE("predict: faces found by a cascade are boxed, cropped, classified one by one, and drawn", "[apps][predict]") {
  TempDir dir("predict_faces");
  const std::string cascade = square_cascade(dir);
  // 300x300 is at least 4 x 64: detection is on by default.
  const GrayImage img = squares_image(300, 300, {{60, 60}, {200, 180}}, 24);
  save_image(dir / "two.png", img);
  save_image(dir / "none.png", squares_image(300, 300, {}, 0));
  save_image(dir / "small.png", squares_image(100, 100, {{30, 30}}, 30));  // under 256: a face crop, classified whole
  DetectOptions o;
  o.min_neighbors = 5;
  const auto want = Cascade::load(cascade).detect(img, o);
  for (const auto& b : want) UNSCOPED_INFO("box " << b.x << "," << b.y << " " << b.width << "x" << b.height);
  REQUIRE(want.size() == 2);

  const Out r = predict("--json --csv " + (dir / "f.csv") + " --annotate " + (dir / "ann") + " --cascade " + cascade +
                        " --checkpoint " + kGolden + " " + (dir / "two.png") + " " + (dir / "none.png") + " " +
                        (dir / "small.png"));
  INFO(r.err);
  REQUIRE(r.code == 0);
  const auto j = nlohmann::json::parse(r.out);
  REQUIRE(j.size() == 3);
  REQUIRE(j[0]["faces"].size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    const auto& b = j[0]["faces"][i]["box"];
    CHECK(Rect{b["x"], b["y"], b["width"], b["height"]} == want[i]);
    CHECK(j[0]["faces"][i]["probabilities"].size() == 7);
  }
  CHECK(j[1]["faces"].empty());
  CHECK_FALSE(j[2].contains("faces"));
  CHECK(j[2].contains("prediction"));
  const auto rows = parse_csv(read_file(dir / "f.csv"));
  REQUIRE(rows.size() == 1 + 2 + 1 + 1);
  CHECK(rows[1][1] == "face");
  CHECK(rows[1][2] == "1");
  CHECK(rows[2][2] == "2");
  CHECK(rows[2][3] == std::to_string(want[1].x));
  CHECK(rows[3][1] == "no face");
  CHECK(rows[4][1] == "image");
  // The annotated copies: one per image, the photo's size, coloured where the boxes are.
  const std::vector<fs::path> drawn = {dir / "ann/000000_two.png", dir / "ann/000001_none.png", dir / "ann/000002_small.png"};
  for (const auto& p : drawn) REQUIRE(fs::exists(p));
  int w = 0, h = 0, n = 0;
  // Decoding to gray keeps the boxes visible as non-gray values only in colour; read it as
  // gray and compare with the input: the box edges differ, the middle of a face does not.
  const GrayImage ann = load_image_gray(drawn[0].string());
  w = static_cast<int>(ann.w), h = static_cast<int>(ann.h);
  CHECK(w == 300);
  CHECK(h == 300);
  for (std::int64_t x = want[0].x; x < want[0].x + want[0].width; ++x) n += ann.at(want[0].y + want[0].height, x) != img.at(want[0].y + want[0].height, x);
  CHECK(n > want[0].width / 2);
  CHECK(ann.at(want[0].y + want[0].height / 2, want[0].x + want[0].width / 2) ==
        img.at(want[0].y + want[0].height / 2, want[0].x + want[0].width / 2));

  // The crop each face is classified from is crop_face's: predict on that crop alone (as a
  // face image) gives the same probabilities.
  save_image(dir / "crop.png", crop_face(img, want[0], 64));
  const Out c = predict("--json --checkpoint " + kGolden + " " + (dir / "crop.png"));
  REQUIRE(c.code == 0);
  const auto cj = nlohmann::json::parse(c.out);
  for (auto& [k, v] : cj[0]["probabilities"].items())
    CHECK(v.get<double>() == Approx(j[0]["faces"][0]["probabilities"][k].get<double>()).epsilon(1e-6));

  // Text output, and the switches.
  const Out t = predict("--cascade " + cascade + " --checkpoint " + kGolden + " " + (dir / "two.png") + " " + (dir / "none.png"));
  CHECK_THAT(t.out, Contains("two.png: 2 faces") && Contains("face 2 at x=") && Contains("none.png: no face found"));
  const Out off = predict("--json --no-detect-faces --checkpoint " + kGolden + " " + (dir / "two.png"));
  CHECK_FALSE(nlohmann::json::parse(off.out)[0].contains("faces"));
  const Out on = predict("--json --detect-faces --cascade " + cascade + " --checkpoint " + kGolden + " " + (dir / "small.png"));
  CHECK(nlohmann::json::parse(on.out)[0].contains("faces"));
  const Out missing = predict("--cascade /nonexistent/c.xml --checkpoint " + kGolden + " " + (dir / "two.png"));
  CHECK(missing.code == 1);
  CHECK_THAT(missing.err, Contains("/nonexistent/c.xml") && Contains("--no-detect-faces"));
}

TEST_CASE("predict: finds the face in a real portrait, as OpenCV's detector does", "[apps][predict][photos]") {
  if (test_assets::photos_dir().empty()) {
    test_assets::skip("photos", "the test photos are not here (" + test_assets::photos_hint() + ")");
    return;
  }
  if (!fs::exists(kDefaultFaceCascade)) {
    test_assets::skip("opencv", std::string(kDefaultFaceCascade) + " is not installed (Debian's opencv-data)");
    return;
  }
  TempDir dir("predict_photo");
  const std::string photo = test_assets::photos_dir() + "/grace_hopper_512x512.jpg";
  const Out r = predict("--detect-faces --json --annotate " + (dir / "out.png") + " --checkpoint " + kGolden + " " + photo);
  std::printf("predict --detect-faces --json --annotate out.png grace_hopper_512x512.jpg:\n%s", r.out.c_str());
  INFO(r.err);
  REQUIRE(r.code == 0);
  const auto j = nlohmann::json::parse(r.out);
  REQUIRE(j[0]["faces"].size() == 1);
  // The face marked by hand (nose at 262, 232; 170 pixels cheek to cheek); test_face_photos.cpp
  // checks that the box is OpenCV's.
  const auto& b = j[0]["faces"][0]["box"];
  const Rect f{b["x"], b["y"], b["width"], b["height"]};
  CHECK((f.x < 262 && 262 < f.x + f.width && f.y < 232 && 232 < f.y + f.height));
  CHECK(f.width >= 0.8 * 170);
  CHECK(f.width <= 1.6 * 170);
  const GrayImage ann = load_image_gray(dir / "out.png");
  CHECK(ann.w == 512);
  CHECK(ann.h == 512);
}
