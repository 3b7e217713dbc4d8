// bench_data: how fast the DataLoader delivers batches, with and without augmentation, on 1
// and 2 worker threads, for the synthetic faces (drawn on the fly) and for a FER2013 CSV
// (decoded in memory, resized 48 -> 64 per sample). Training must never wait for data: the
// loader should deliver several times the model's training rate. Give that rate (images/s,
// from train_resnet's log) with --train-rate to see the ratio.
//
//   bench_data [--seconds 2] [--batch 64] [--size 64] [--train-rate 150]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "minidl/data/dataloader.h"
#include "minidl/data/fer2013_csv.h"
#include "minidl/data/synthetic_faces.h"

using namespace minidl;
using namespace minidl::data;

namespace {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

struct Result {
  double images_per_s;
  double ms_per_batch;
};

// Runs the loader for about `seconds` (after one warm-up batch) and measures images/s.
Result measure(const DatasetPtr& d, DataLoaderOptions o, double seconds) {
  DataLoader loader(d, o);
  loader.start_epoch(0);
  Batch b;
  std::int64_t epoch = 0;
  auto next = [&] {
    if (!loader.next(b)) {
      loader.start_epoch(++epoch);
      loader.next(b);
    }
  };
  next();  // warm-up: threads started, first batch in
  std::int64_t images = 0, batches = 0;
  const auto t0 = std::chrono::steady_clock::now();
  double dt = 0;
  while (dt < seconds) {
    next();
    images += b.size();
    ++batches;
    dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  return {images / dt, 1e3 * dt / batches};
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 2.0, train_rate = 0.0;
  std::int64_t batch = 64, size = 64;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_data: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--seconds") seconds = std::atof(value());
    else if (a == "--batch") batch = std::atoll(value());
    else if (a == "--size") size = std::atoll(value());
    else if (a == "--train-rate") train_rate = std::atof(value());
    else if (a == "-h" || a == "--help") {
      std::printf("usage: bench_data [--seconds S] [--batch B] [--size PX] [--train-rate IMAGES_PER_S]\n");
      return 0;
    } else {
      std::fprintf(stderr, "bench_data: unknown argument %s (try --help)\n", a.c_str());
      return 2;
    }
  }

  char date[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M", std::localtime(&now));
  std::printf("bench_data  %s\n", date);
  std::printf("machine     %s, %u hardware threads\n", cpu_model().c_str(), std::thread::hardware_concurrency());
#if defined(__VERSION__)
  std::printf("compiler    %s, %s\n", __VERSION__,
#ifdef NDEBUG
              "optimised (NDEBUG)"
#else
              "debug build: numbers mean little"
#endif
  );
#endif
  std::printf("setup       batch %lld, %lldx%lld images, %.1f s per case, augmentation = %s\n\n",
              static_cast<long long>(batch), static_cast<long long>(size), static_cast<long long>(size), seconds,
              AugmentOptions{}.str().c_str());

  SyntheticFacesOptions so;
  so.size = 100000;
  so.height = so.width = size;
  const DatasetPtr synthetic = std::make_shared<SyntheticFaces>(so);

  // A FER2013 CSV of 2000 synthetic faces at 48x48, read back: the path real FER data takes.
  const auto tmp = std::filesystem::temp_directory_path() / ("minidl_bench_data_" + std::to_string(::getpid()) + ".csv");
  {
    std::ofstream out(tmp);
    out << "emotion,pixels,Usage\n";
    for (int i = 0; i < 2000; ++i) {
      const Sample s = draw_synthetic_face(1, i, 48, 48);
      out << s.label << ",";
      for (std::size_t k = 0; k < s.image.pixels.size(); ++k) out << (k ? " " : "") << int(s.image.pixels[k]);
      out << ",Training\n";
    }
  }
  Fer2013Options fo;
  fo.height = fo.width = size;
  const DatasetPtr csv = std::make_shared<Fer2013Csv>(tmp.string(), fo);
  std::filesystem::remove(tmp);

  std::printf("%-34s %-4s %-8s %12s %14s", "data", "aug", "workers", "images/s", "ms per batch");
  if (train_rate > 0) std::printf(" %16s", "x training rate");
  std::printf("\n");
  struct Case {
    const char* name;
    DatasetPtr d;
    bool aug;
    int workers;
  };
  const std::vector<Case> cases = {
      {"synthetic faces (drawn per sample)", synthetic, true, 1},
      {"synthetic faces (drawn per sample)", synthetic, true, 2},
      {"synthetic faces (drawn per sample)", synthetic, false, 1},
      {"synthetic faces (drawn per sample)", synthetic, false, 2},
      {"FER2013 CSV in memory, 48->64", csv, true, 1},
      {"FER2013 CSV in memory, 48->64", csv, true, 2},
      {"FER2013 CSV in memory, 48->64", csv, false, 1},
  };
  for (const Case& c : cases) {
    DataLoaderOptions o;
    o.batch_size = batch;
    o.num_workers = c.workers;
    o.prefetch = 4;
    o.augment = c.aug;
    o.seed = 1;
    const Result r = measure(c.d, o, seconds);
    std::printf("%-34s %-4s %-8d %12.0f %14.2f", c.name, c.aug ? "on" : "off", c.workers, r.images_per_s,
                r.ms_per_batch);
    if (train_rate > 0) std::printf(" %15.1fx", r.images_per_s / train_rate);
    std::printf("\n");
    std::fflush(stdout);
  }
  if (train_rate <= 0)
    std::printf("\nmodel training rate: not given (run train_resnet and pass its images/s as --train-rate "
                "to print the ratio; the loader should deliver at least 5x)\n");
  return 0;
}
