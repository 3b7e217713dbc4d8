// The apps used as a careless or hostile user would (issue 23; the table in docs/reliability.md,
// "Bad input and misuse"): models that diverged, files that are not files, a full disk, two
// runs in one folder, names that are not UTF-8 or hold a comma, flags that make no sense. Each
// case must end in a clear error (naming the file, key or flag) or in the right result; none
// may end in exit code 0 with a wrong result.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "minidl/core/safetensors.h"
#include "minidl/data/image_io.h"

#include "app_run.h"
#include "test_data_helpers.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {

using minidl::data::testing::TempDir;

const std::string kGoldenState = std::string(MINIDL_TEST_DATA_DIR) + "/golden_resnet18_w4_state.safetensors";
// A width-4 model on 32x32 images: an epoch takes seconds.
const std::string kTiny = "--width 4 --input-size 32 --workers 1 --seed 3 --quiet";

using Run = minidl::test::AppRun;
using minidl::test::parse_csv;
using minidl::test::read_file;

Run run(const std::string& app, const std::string& args, const std::string& prefix = "", int limit_s = 600) {
  return minidl::test::run_app(app, args, prefix, limit_s);
}

// A folder data set of n flat gray images per class, each class its own brightness (so a tiny
// model can learn something), 32x32.
void make_folder(const fs::path& root, const std::vector<std::string>& classes, int n) {
  for (std::size_t c = 0; c < classes.size(); ++c) {
    fs::create_directories(root / classes[c]);
    for (int i = 0; i < n; ++i) {
      minidl::data::GrayImage img(32, 32, static_cast<std::uint8_t>(40 + 60 * c));
      for (std::int64_t y = 0; y < 32; ++y) img.at(y, (i * 7 + y) % 32) = static_cast<std::uint8_t>(255 - 20 * c);
      char name[32];
      std::snprintf(name, sizeof name, "%03d.png", i);
      minidl::data::save_image((root / classes[c] / name).string(), img);
    }
  }
}

// Every float value of every tensor in a safetensors file is finite.
bool all_finite(const std::string& path) {
  for (const auto& [name, t] : minidl::load_safetensors(path).tensors) {
    if (t.dtype() != minidl::DType::Float32) continue;
    for (float v : t.to_vector<float>())
      if (!std::isfinite(v)) return false;
  }
  return true;
}

// An error exit (not a crash, a signal or the divergence code 3) with a short message.
void one_clear_line(const Run& r) {
  INFO(r.out << r.err);
  CHECK(r.code > 0);
  CHECK(r.code != 3);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') <= 2);
  CHECK(r.err.find("terminate") == std::string::npos);
}

}  // namespace

TEST_CASE("misuse 1: weights or batch-norm statistics that overflow stop training (exit 3) and are never saved",
          "[apps][misuse]") {
  // At lr 50 the running variances overflow in the first epoch while every training loss stays
  // finite: the validation loss is NaN and tensors hold non-finite values.
  TempDir tmp("misuse");
  const std::string out = tmp / "run";
  Run r = run("train_resnet", kTiny + " --synthetic-size 200 --batch-size 16 --lr 50 --schedule constant --epochs 1 --out " + out);
  INFO(r.out << r.err);
  CHECK(r.code == 3);
  // Which the trainer sees first (a non-finite validation loss or non-finite tensors) depends on
  // the data; either stops the run with the same advice.
  CHECK_THAT(r.err, Contains("after epoch 1") && (Contains("non-finite") || Contains("validation loss is")) &&
                        Contains("last good checkpoint (none yet)"));
  for (const char* f : {"last.safetensors", "best.safetensors", "train_state.safetensors"})
    if (fs::exists(fs::path(out) / f)) CHECK(all_finite((fs::path(out) / f).string()));
  CHECK(!fs::exists(fs::path(out) / "last.safetensors"));
  CHECK(!fs::exists(fs::path(out) / "report.html"));
}

TEST_CASE("misuse 1: evaluate and predict refuse a checkpoint with non-finite values, naming the tensor",
          "[apps][misuse]") {
  TempDir tmp("misuse");
  auto state = minidl::load_safetensors(kGoldenState);
  float* var = state.tensors.at("layer2.0.bn1.running_var").data<float>();
  var[3] = std::nanf("");
  var[5] = INFINITY;
  const std::string ckpt = tmp / "nan.safetensors";
  minidl::save_safetensors(ckpt, state.tensors, state.metadata);
  const std::string png = tmp / "face.png";
  minidl::data::save_image(png, minidl::data::GrayImage(64, 64, 128));

  Run p = run("predict", "--checkpoint " + ckpt + " " + png);
  one_clear_line(p);
  CHECK_THAT(p.err, Contains(ckpt) && Contains("layer2.0.bn1.running_var") && Contains("2 non-finite values"));
  Run e = run("evaluate", "--checkpoint " + ckpt + " --data synthetic --synthetic-size 40 --workers 1 --out " + (tmp / "eval"));
  one_clear_line(e);
  CHECK_THAT(e.err, Contains(ckpt) && Contains("layer2.0.bn1.running_var"));
}

TEST_CASE("misuse 2, 11: a write past the file size limit is an error naming the file, not a silent success or SIGXFSZ",
          "[apps][misuse]") {
  TempDir tmp("misuse");
  // 8 KiB per file: each 128x128 BMP is 17 KiB.
  Run f = run("make_dataset", "-f folder -o " + (tmp / "faces") + " -n 20 -s 128 --image-format bmp -q", "ulimit -f 8");
  INFO(f.out << f.err);
  CHECK(f.code == 1);
  CHECK_THAT(f.err, Contains(tmp / "faces") && Contains("File too large"));
  CHECK(f.out.find("wrote") == std::string::npos);
  for (const auto& e : fs::recursive_directory_iterator(tmp.path()))
    if (e.is_regular_file()) CHECK(e.file_size() > 0);  // no empty image was left

  Run c = run("make_dataset", "-f csv -o " + (tmp / "faces.csv") + " -n 50 -q", "ulimit -f 8");
  CHECK(c.code == 1);
  CHECK_THAT(c.err, Contains(tmp / "faces.csv") && Contains("File too large"));
  CHECK(!fs::exists(tmp / "faces.csv"));

  // train_resnet: config.json fits, the first checkpoint does not.
  Run t = run("train_resnet", kTiny + " --synthetic-size 80 --batch-size 16 --epochs 1 --out " + (tmp / "run"), "ulimit -f 8");
  INFO(t.out << t.err);
  CHECK(t.code == 1);
  CHECK_THAT(t.err, Contains(tmp / "run") && Contains("File too large"));
}

TEST_CASE("misuse 3: make_dataset --force does not replace a FIFO, a symbolic link or a device", "[apps][misuse]") {
  TempDir tmp("misuse");
  const std::string fifo = tmp / "fifo.csv", link = tmp / "link.csv", target = tmp / "target.csv";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  std::ofstream(target) << "precious\n";
  fs::create_symlink(target, link);
  for (const std::string& out : {fifo, link}) {
    Run r = run("make_dataset", "-f csv -o " + out + " -n 3 --force -q");
    INFO(out << ": " << r.err);
    CHECK(r.code == 1);
    CHECK_THAT(r.err, Contains(out) && Contains("refusing to replace"));
  }
  CHECK(fs::is_fifo(fifo));
  CHECK(fs::is_symlink(link));
  CHECK(read_file(target) == "precious\n");
  // A FIFO where the first image of a folder data set goes (--force writes into a used folder):
  // one in each class folder, as the first face's class is not known here.
  for (const char* c : {"Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"}) {
    fs::create_directories(tmp.path() / "faces" / c);
    REQUIRE(::mkfifo((tmp.path() / "faces" / c / "00.png").c_str(), 0600) == 0);
  }
  Run f = run("make_dataset", "-f folder -o " + (tmp / "faces") + " -n 10 --force -q", "", 120);
  CHECK(f.code == 1);
  CHECK_THAT(f.err, Contains("00.png") && Contains("refusing to replace"));
  CHECK(fs::is_fifo(tmp.path() / "faces" / "Happy" / "00.png"));
}

TEST_CASE("misuse 4, 12: evaluate compares class names, and --resume refuses data that changed", "[apps][misuse]") {
  TempDir tmp("misuse");
  const fs::path data = tmp.path() / "data";
  make_folder(data, {"Bag", "Sneaker", "Trouser"}, 14);
  const std::string out = tmp / "run";
  Run t = run("train_resnet", kTiny + " --data " + data.string() + " --batch-size 8 --epochs 2 --stop-after 1 --out " + out);
  INFO(t.out << t.err);
  REQUIRE(t.code == 0);

  // Same images, one class renamed: as many classes, other names.
  fs::rename(data / "Bag", data / "Zbag");
  Run e = run("evaluate", "--checkpoint " + out + "/best.safetensors --data " + data.string() + " --workers 1 --out " +
                              (tmp / "eval"));
  one_clear_line(e);
  CHECK_THAT(e.err, Contains("Sneaker, Trouser, Zbag") && Contains("Bag, Sneaker, Trouser"));
  Run r = run("train_resnet", "--quiet --resume " + out);
  one_clear_line(r);
  CHECK_THAT(r.err, Contains("--resume") && Contains("Zbag"));

  // The same names again, one image fewer: the data changed, the run cannot continue exactly.
  fs::rename(data / "Zbag", data / "Bag");
  fs::remove(data / "Trouser" / "000.png");
  r = run("train_resnet", "--quiet --resume " + out);
  one_clear_line(r);
  CHECK_THAT(r.err, Contains("training images"));
}

TEST_CASE("misuse 5: a FIFO or a device where a file is expected is refused at once, by the apps too", "[apps][misuse]") {
  TempDir tmp("misuse");
  const fs::path data = tmp.path() / "data";
  make_folder(data, {"A", "B"}, 10);
  REQUIRE(::mkfifo((data / "B" / "x.png").c_str(), 0600) == 0);
  // /dev/null, not /dev/zero (which is refused the same way): a reader that regressed must end,
  // not fill the memory of the machine running the suite.
  fs::create_symlink("/dev/null", data / "A" / "dev.png");
  const std::string args = kTiny + " --data " + data.string() + " --batch-size 4 --epochs 1 --out " + (tmp / "run");
  Run r = run("train_resnet", args, "", 120);
  one_clear_line(r);
  CHECK_THAT(r.err, Contains("dev.png") && Contains("character device"));
  Run s = run("train_resnet", args + " --skip-bad", "", 120);
  INFO(s.out << s.err);
  CHECK(s.code == 0);
  const std::string fifo = tmp / "ckpt.safetensors";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  for (const char* app : {"predict", "evaluate"}) {
    Run c = run(app, "--checkpoint " + fifo + (std::string(app) == "predict" ? " x.png" : " --data synthetic"), "", 60);
    one_clear_line(c);
    CHECK_THAT(c.err, Contains(fifo) && Contains("not a regular file"));
  }
}

TEST_CASE("misuse 6: a run folder is locked while a run writes it, and a new run into a used folder needs --force",
          "[apps][misuse]") {
  TempDir tmp("misuse");
  const std::string out = tmp / "run", args = kTiny + " --synthetic-size 80 --batch-size 16 --epochs 1 --out " + out;
  fs::create_directories(out);
  {
    // Another process holds the folder: as a running train_resnet would.
    const int fd = ::open(out.c_str(), O_RDONLY | O_DIRECTORY);
    REQUIRE(fd >= 0);
    REQUIRE(::flock(fd, LOCK_EX | LOCK_NB) == 0);
    Run r = run("train_resnet", args);
    ::close(fd);
    one_clear_line(r);
    CHECK_THAT(r.err, Contains(out) && Contains("another training run"));
    CHECK(!fs::exists(fs::path(out) / "config.json"));
  }
  REQUIRE(run("train_resnet", args).code == 0);
  const std::string first = read_file(fs::path(out) / "last.safetensors");
  auto lr_in_config = [&] { return nlohmann::json::parse(read_file(fs::path(out) / "config.json")).at("lr").get<double>(); };
  Run again = run("train_resnet", args + " --lr 0.01");
  one_clear_line(again);
  CHECK_THAT(again.err, Contains(out) && Contains("already holds a training run") && Contains("--force"));
  const bool kept = read_file(fs::path(out) / "last.safetensors") == first;
  CHECK(kept);
  CHECK(lr_in_config() == 0.05);
  Run forced = run("train_resnet", args + " --lr 0.01 --force");
  INFO(forced.err);
  CHECK(forced.code == 0);
  CHECK(lr_in_config() == 0.01);
  const bool replaced = read_file(fs::path(out) / "last.safetensors") != first;
  CHECK(replaced);
}

TEST_CASE("misuse 7, 13: class names that are not UTF-8 or hold a comma train, evaluate and report as bytes",
          "[apps][misuse]") {
  TempDir tmp("misuse");
  const fs::path data = tmp.path() / "data";
  const std::string latin1 = "Z\xE9" "bag", comma = "a,b \"q\"";
  make_folder(data, {latin1, comma, "Sneaker"}, 12);
  const std::string out = tmp / "run";
  Run t = run("train_resnet", kTiny + " --data " + data.string() + " --batch-size 8 --epochs 1 --out " + out);
  INFO(t.out << t.err);
  REQUIRE(t.code == 0);
  // The checkpoint gives back the exact bytes (sorted as the folder names are).
  const auto meta = minidl::read_safetensors_metadata(out + "/best.safetensors");
  std::vector<std::string> names;
  for (const auto& n : nlohmann::json::parse(meta.at("minidl.class_names"))) {
    std::string s;
    if (n.is_string()) s = n.get<std::string>();
    else
      for (const auto& b : n) s += static_cast<char>(b.get<int>());
    names.push_back(s);
  }
  CHECK(names == std::vector<std::string>{"Sneaker", latin1, comma});
  // Every CSV row has as many fields as its header, with the names as they are.
  for (const char* f : {"per_class.csv", "confusion_counts.csv", "confusion_normalized.csv"}) {
    INFO(f);
    const auto rows = parse_csv(read_file(fs::path(out) / f));
    REQUIRE(rows.size() == 4);
    for (const auto& row : rows) CHECK(row.size() == rows[0].size());
    CHECK(rows[2][0] == latin1);
    CHECK(rows[3][0] == comma);
  }
  const auto summary = nlohmann::json::parse(read_file(fs::path(out) / "summary.json"));
  CHECK(summary.at("per_class").contains("Z\\xE9bag"));
  // evaluate on the same folder: the names compare equal.
  Run e = run("evaluate", "--checkpoint " + out + "/best.safetensors --data " + data.string() + " --workers 1 --json --out " +
                              (tmp / "eval"));
  INFO(e.err);
  CHECK(e.code == 0);
  CHECK_NOTHROW(nlohmann::json::parse(e.out));
}

TEST_CASE("misuse 8: --train-limit keeps the class balance and says so", "[apps][misuse]") {
  TempDir tmp("misuse");
  const fs::path data = tmp.path() / "data";
  make_folder(data, {"A", "B", "C"}, 20);
  Run t = run("train_resnet", "--width 4 --input-size 32 --workers 1 --seed 3 --data " + data.string() +
                                  " --train-limit 12 --batch-size 4 --epochs 1 --out " + (tmp / "run"));
  INFO(t.out << t.err);
  REQUIRE(t.code == 0);
  CHECK_THAT(t.out, Contains("class counts (train): A 4 B 4 C 4") && Contains("--train-limit 12"));
}

TEST_CASE("misuse 9: checkpoint metadata is validated, naming the key", "[apps][misuse]") {
  TempDir tmp("misuse");
  const auto golden = minidl::load_safetensors(kGoldenState);
  const std::string png = tmp / "face.png";
  minidl::data::save_image(png, minidl::data::GrayImage(64, 64, 128));
  struct Case {
    const char* key;
    const char* value;
    const char* expect;
  };
  const Case cases[] = {{"minidl.input_size", "1e3", "minidl.input_size"},
                        {"minidl.input_size", "64abc", "minidl.input_size"},
                        {"minidl.input_size", "abc", "minidl.input_size"},
                        {"minidl.input_size", "100000", "minidl.input_size"},
                        {"minidl.width", "-4", "minidl.width"},
                        {"minidl.normalize", R"({"mean": 1e308, "std": 1e-300})", "minidl.normalize"},
                        {"minidl.normalize", "{", "minidl.normalize"},
                        {"minidl.class_names", R"(["a", "b"])", "minidl.class_names"},
                        {"minidl.class_names", R"(["a", "a", "b", "c", "d", "e", "f"])", "twice"}};
  for (const Case& c : cases) {
    INFO(c.key << " = " << c.value);
    const std::string ckpt = tmp / "bad.safetensors";
    minidl::save_safetensors(ckpt, golden.tensors, {{c.key, c.value}});
    Run p = run("predict", "--checkpoint " + ckpt + " " + png);
    one_clear_line(p);
    CHECK_THAT(p.err, Contains(ckpt) && Contains(c.expect));
  }
  // A training state given as a checkpoint: a hint, not a list of 300 key names.
  std::map<std::string, minidl::Tensor> state;
  for (const auto& [n, t] : golden.tensors) state["model." + n] = t;
  const std::string ts = tmp / "train_state.safetensors";
  minidl::save_safetensors(ts, state);
  Run p = run("predict", "--checkpoint " + ts + " " + png);
  one_clear_line(p);
  CHECK_THAT(p.err, Contains("training state") && Contains("last.safetensors"));
}

TEST_CASE("misuse 11: evaluate's errors name config.json and where the data came from", "[apps][misuse]") {
  TempDir tmp("misuse");
  const fs::path run_dir = tmp.path() / "run";
  fs::create_directories(run_dir);
  fs::copy_file(kGoldenState, run_dir / "model.safetensors");
  const std::string ckpt = (run_dir / "model.safetensors").string(), config = (run_dir / "config.json").string();
  const std::string common = " --workers 1 --synthetic-size 40 --out " + (tmp / "eval");

  std::ofstream(config) << "{\"data\": \"synthetic\", ";  // cut short
  Run e = run("evaluate", "--checkpoint " + ckpt + common);
  one_clear_line(e);
  CHECK_THAT(e.err, Contains(config) && Contains("not valid JSON"));
  e = run("evaluate", "--checkpoint " + ckpt + " --data synthetic" + common);  // --data: config.json not needed
  INFO(e.err);
  CHECK(e.code == 0);
  CHECK_THAT(e.err, Contains("warning") && Contains(config));

  std::ofstream(config) << R"({"data": "/nonexistent/faces"})";
  e = run("evaluate", "--checkpoint " + ckpt + common);
  one_clear_line(e);
  CHECK_THAT(e.err, Contains(config) && Contains("/nonexistent/faces"));
  CHECK(e.err.find("--data:") == std::string::npos);

  std::ofstream(config) << R"({"data": "synthetic", "seed": "one"})";
  e = run("evaluate", "--checkpoint " + ckpt + common);
  one_clear_line(e);
  CHECK_THAT(e.err, Contains(config) && Contains("'seed'") && Contains("an integer"));
}

TEST_CASE("misuse 12: nonsense flag values are refused, naming the flag", "[apps][misuse]") {
  // Each on a tiny run that would end in seconds (--stop-after 1, or --epochs 1), should a
  // check regress and the value be accepted.
  const std::pair<const char*, const char*> cases[] = {
      {"--stop-after -1 --epochs 1", "--stop-after"}, {"--clip-grad-norm -1", "--clip-grad-norm"},
      {"--warmup-epochs -5", "--warmup-epochs"},      {"--epochs 2000000000000000000", "--epochs"},
      {"--momentum 1.5", "--momentum"},               {"--input-size 100000", "--input-size"},
      {"--train-limit -3", "--train-limit"},          {"--width 0", "--width"},
      {"--lr nan", "--lr"},                           {"--workers 100000", "--workers"},
      {"--max-scale 1e9", "--max-scale"},             {"--batch-size 1", "--batch-size"}};
  TempDir tmp("misuse");
  for (const auto& [flags, flag] : cases) {
    const std::string stop = std::string(flags).find("--stop-after") == std::string::npos ? " --stop-after 1" : "";
    Run r = run("train_resnet", "--synthetic-size 40 --quiet " + std::string(flags) + stop + " --out " + (tmp / "never"));
    INFO(flags);
    one_clear_line(r);
    CHECK_THAT(r.err, Contains(flag));
  }
  CHECK(!fs::exists(tmp / "never"));
}

TEST_CASE("misuse 12: --resume refuses the flags it cannot honour, naming them", "[apps][misuse]") {
  TempDir tmp("misuse");
  const std::string out = tmp / "run";
  REQUIRE(run("train_resnet", kTiny + " --synthetic-size 80 --batch-size 16 --epochs 2 --stop-after 1 --out " + out).code == 0);
  for (const char* flags : {"--lr 0.5", "--width 8", "--data fashion-mnist", "--batch-size 8", "--aug off", "--epochs 1",
                            "--force"}) {
    Run r = run("train_resnet", "--quiet --resume " + out + " " + flags);
    INFO(flags);
    one_clear_line(r);
    CHECK_THAT(r.err, Contains(std::string(flags).substr(0, std::string(flags).find(' '))));
  }
  CHECK(minidl::read_safetensors_metadata(out + "/train_state.safetensors").at("epochs_done") == "1");
  // The run's own values, and the flags a resume honours, are fine.
  Run ok = run("train_resnet", "--quiet --resume " + out + " --batch-size 16 --width 4 --workers 2 --epochs 3");
  INFO(ok.err);
  CHECK(ok.code == 0);
  CHECK(minidl::read_safetensors_metadata(out + "/train_state.safetensors").at("epochs_done") == "3");
}
