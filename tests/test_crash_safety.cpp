// Crash safety of train_resnet: SIGKILL at random moments, and at the moment a checkpoint is
// being written, must leave checkpoints that load, and --resume must then finish the run with
// weights bit-identical to an uninterrupted run of the same seed (CPU). Also the out-of-memory
// path of the apps, driven through the allocator limits from the environment.
//
// MINIDL_CRASH_SEED=N replays the kill schedule of an earlier run (each run prints its seed);
// MINIDL_CRASH_KILLS=N changes the number of kills (default 12).
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "minidl/core/device.h"
#include "minidl/core/safetensors.h"
#include "minidl/layers/optim.h"
#include "minidl/models/resnet.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kTrain = std::string(MINIDL_BINARY_DIR) + "/apps/train_resnet";
// The apps tests' tiny configuration (flag, value pairs), on the CPU; runs add --quiet.
const std::vector<std::string> kTinyArgs = {"--width", "4", "--input-size", "32", "--synthetic-size", "280",
                                            "--batch-size", "16", "--workers", "1", "--seed", "3", "--device", "cpu"};

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "minidl_crash_XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// A child process running train_resnet with args, its output in log files, and extra environment.
struct Child {
  pid_t pid = -1;
  fs::path out, err;
};

Child spawn(const std::vector<std::string>& args, const fs::path& log_prefix,
            const std::vector<std::pair<std::string, std::string>>& env = {}) {
  Child c;
  c.out = log_prefix.string() + ".out";
  c.err = log_prefix.string() + ".err";
  std::vector<std::string> argv_s = {kTrain};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int o = ::open(c.out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int e = ::open(c.err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (o < 0 || e < 0 || ::dup2(o, 1) < 0 || ::dup2(e, 2) < 0) ::_exit(126);
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  c.pid = pid;
  return c;
}

// Waits for the child; returns its exit code, or -signal when a signal ended it.
int wait_for(const Child& c) {
  int status = 0;
  while (::waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

struct RunResult {
  int code;
  std::string out, err;
};
RunResult run_to_end(const std::vector<std::string>& args, const fs::path& log_prefix,
                     const std::vector<std::pair<std::string, std::string>>& env = {}) {
  const Child c = spawn(args, log_prefix, env);
  const int code = wait_for(c);
  return {code, slurp(c.out), slurp(c.err)};
}

std::vector<std::string> temp_files_in(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string n = e.path().filename().string();
    if (n.find(".tmp") != std::string::npos) names.push_back(n);
  }
  return names;
}

bool has_checkpoint_temp(const std::vector<std::string>& names) {
  for (const auto& n : names)
    if (n.find(".safetensors.tmp.") != std::string::npos) return true;
  return false;
}

std::int64_t metadata_int(const std::map<std::string, std::string>& meta, const std::string& key) {
  const auto it = meta.find(key);
  REQUIRE(it != meta.end());
  return std::stoll(it->second);
}

// Every checkpoint in the run folder must load: as a safetensors file, into the model it was
// saved from (strict: every name and shape), and the training state into an optimiser too.
// Returns the epochs the training state says are done (0 when there is none yet).
std::int64_t check_checkpoints_load(const fs::path& dir) {
  std::int64_t last_epoch = 0, state_epochs = 0;
  for (const char* name : {"last.safetensors", "best.safetensors"}) {
    const fs::path p = dir / name;
    if (!fs::exists(p)) continue;
    INFO(p.string());
    minidl::TensorFile f;
    REQUIRE_NOTHROW(f = minidl::load_safetensors(p.string()));
    auto model = minidl::resnet18(1, 7, 4);
    REQUIRE_NOTHROW(model->load_state_dict(f.tensors, /*strict=*/true));
    const std::int64_t epoch = metadata_int(f.metadata, "minidl.epoch");
    CHECK(epoch >= 1);
    if (std::string(name) == "last.safetensors") last_epoch = epoch;
  }
  const fs::path sp = dir / "train_state.safetensors";
  if (fs::exists(sp)) {
    INFO(sp.string());
    minidl::TensorFile f;
    REQUIRE_NOTHROW(f = minidl::load_safetensors(sp.string()));
    std::map<std::string, minidl::Tensor> m, o;
    for (const auto& [n, t] : f.tensors) {
      if (n.rfind("model.", 0) == 0) m[n.substr(6)] = t;
      else if (n.rfind("optimizer.", 0) == 0) o[n.substr(10)] = t;
    }
    auto model = minidl::resnet18(1, 7, 4);
    REQUIRE_NOTHROW(model->load_state_dict(m, true));
    minidl::SGD opt(model->named_parameters(), minidl::SgdOptions{0.1, 0.9, 0.0, 5e-4, false});
    REQUIRE_NOTHROW(opt.load_state_dict(o));
    state_epochs = metadata_int(f.metadata, "epochs_done");
    // last is written before the state of the same epoch: it is that epoch or one ahead.
    CHECK(last_epoch >= state_epochs);
    CHECK(last_epoch <= state_epochs + 1);
  }
  return state_epochs;
}

void check_same_tensors(const fs::path& a, const fs::path& b) {
  INFO(a.string() << " vs " << b.string());
  const auto ta = minidl::load_safetensors(a.string()), tb = minidl::load_safetensors(b.string());
  REQUIRE(ta.tensors.size() == tb.tensors.size());
  for (const auto& [name, t] : ta.tensors) {
    INFO(name);
    REQUIRE(tb.tensors.count(name) == 1);
    const auto& u = tb.tensors.at(name);
    REQUIRE(t.shape() == u.shape());
    REQUIRE(t.nbytes() == u.nbytes());
    CHECK(std::memcmp(t.raw_data(), u.raw_data(), t.nbytes()) == 0);
  }
}

// metrics.csv without the timing columns (seconds, images/s), which no two runs share.
std::vector<std::string> metrics_without_timing(const fs::path& p) {
  std::vector<std::string> rows;
  std::istringstream in(slurp(p));
  std::string line;
  while (std::getline(in, line)) {
    std::size_t cut = line.size();
    for (int commas = 0, i = 0; i < static_cast<int>(line.size()); ++i)
      if (line[i] == ',' && ++commas == 6) cut = static_cast<std::size_t>(i);
    rows.push_back(line.substr(0, cut));
  }
  return rows;
}

std::uint64_t crash_seed() {
  if (const char* s = std::getenv("MINIDL_CRASH_SEED")) return std::stoull(s);
  return std::random_device{}();
}

}  // namespace

TEST_CASE("train_resnet killed with SIGKILL at random moments and inside checkpoint writes resumes exactly",
          "[apps][crash]") {
  TempDir tmp;
  const int epochs = 3;
  std::vector<std::string> base = kTinyArgs;
  base.insert(base.end(), {"--quiet", "--epochs", std::to_string(epochs)});
  // A fresh start replaces what a run killed before its first training state left (--force):
  // without one, a run folder that holds checkpoints is refused.
  auto with_out = [&](const fs::path& dir) {
    auto a = base;
    a.insert(a.end(), {"--out", dir.string(), "--force"});
    return a;
  };

  // The reference: one uninterrupted run, timed to place the kills.
  const fs::path ref = tmp.path / "reference";
  const auto t0 = Clock::now();
  const RunResult r = run_to_end(with_out(ref), tmp.path / "reference");
  double full_s = std::chrono::duration<double>(Clock::now() - t0).count();
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);

  const std::uint64_t seed = crash_seed();
  const int kills = std::getenv("MINIDL_CRASH_KILLS") ? std::atoi(std::getenv("MINIDL_CRASH_KILLS")) : 12;
  std::mt19937_64 rng(seed);
  std::printf("crash safety: seed %llu (MINIDL_CRASH_SEED to replay), %d kills, uninterrupted run %.2f s\n",
              static_cast<unsigned long long>(seed), kills, full_s);

  // Rounds: a fresh run folder each, started, killed, resumed, killed... until an invocation
  // completes the run; then its checkpoints must equal the reference bit for bit. Rounds go on
  // until `kills` kills have landed; the invocations after that run to the end.
  const int watch_fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  REQUIRE(watch_fd >= 0);
  int trial = 0, rounds = 0, invocations = 0, resumes = 0, kills_done = 0, kills_in_write = 0, finished = 0;
  while (kills_done < kills) {
    const fs::path dir = tmp.path / ("crashed" + std::to_string(rounds));
    fs::create_directories(dir);  // watched from the start
    const int wd = ::inotify_add_watch(watch_fd, dir.c_str(), IN_CREATE);
    REQUIRE(wd >= 0);
    for (bool done = false; !done; ++trial) {
      REQUIRE(invocations < 4 * kills + 10);  // progress is made: a kill never loses a saved epoch
      // Odd trials wait for a checkpoint's temporary file to appear (the n-th of this
      // invocation, n random over the writes it has left) and kill then, at a random point of the write; even trials kill
      // after a random delay, a fraction of the time this invocation has left.
      const bool kill = kills_done < kills;
      const bool in_write = trial % 2 == 1;
      const bool resume = fs::exists(dir / "train_state.safetensors");
      const std::int64_t saved = resume ? check_checkpoints_load(dir) : 0;
      const auto args = resume ? std::vector<std::string>{"--quiet", "--resume", dir.string()} : with_out(dir);
      resumes += resume;
      const double left_s = full_s * (0.2 + static_cast<double>(epochs - saved) / epochs);
      const double delay_s = std::uniform_real_distribution<double>(0.02, 0.9)(rng) * left_s;
      // Each epoch writes last and train_state, and best before them when it improved: there are
      // at least twice as many writes left as epochs.
      const int target_write = std::uniform_int_distribution<int>(1, std::max(1, static_cast<int>(2 * (epochs - saved))))(rng);
      const auto extra = std::chrono::microseconds(std::uniform_int_distribution<int>(0, 500)(rng));
      char drain[4096];
      while (::read(watch_fd, drain, sizeof drain) > 0) {
      }  // events of earlier invocations
      const Child c = spawn(args, tmp.path / ("trial" + std::to_string(trial)));
      ++invocations;
      const auto start = Clock::now();
      int writes_seen = 0;
      bool exited = false, killed = false;
      int status = 0;
      while (kill && !killed) {
        if (::waitpid(c.pid, &status, WNOHANG) == c.pid) {
          exited = true;
          break;
        }
        if (in_write) {
          pollfd p{watch_fd, POLLIN, 0};
          if (::poll(&p, 1, 20) <= 0) continue;
          alignas(inotify_event) char events[4096];
          const ssize_t n = ::read(watch_fd, events, sizeof events);
          for (ssize_t i = 0; i < n && !killed;) {
            const auto* ev = reinterpret_cast<const inotify_event*>(events + i);
            if (ev->len > 0 && std::strstr(ev->name, ".safetensors.tmp.") && ++writes_seen == target_write) {
              std::this_thread::sleep_for(extra);
              ::kill(c.pid, SIGKILL);
              killed = true;
            }
            i += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
          }
        } else if (std::chrono::duration<double>(Clock::now() - start).count() >= delay_s) {
          ::kill(c.pid, SIGKILL);
          killed = true;
        } else {
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
      }
      const int code = exited ? (WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status)) : wait_for(c);
      const bool died = killed && code == -SIGKILL;
      if (!died) {
        // It ended before the kill landed (or was not to be killed): it must have succeeded.
        INFO(slurp(c.err));
        REQUIRE(code == 0);
        ++finished;
        done = true;
        // The machine may have been busier during the reference run: aim by the fastest run seen.
        if (!resume) full_s = std::min(full_s, std::chrono::duration<double>(Clock::now() - start).count());
      }
      kills_done += died;
      const bool during_write = has_checkpoint_temp(temp_files_in(dir));
      kills_in_write += died && during_write;
      const std::int64_t now_saved = check_checkpoints_load(dir);
      CHECK(now_saved >= saved);  // a kill never takes a saved epoch away
      std::printf("  round %d trial %2d: %-8s %-8s after %5.2f s, %s, epochs saved %lld -> %lld%s\n", rounds, trial,
                  kill ? (in_write ? "in-write" : "random") : "no kill", died ? "killed" : "finished",
                  std::chrono::duration<double>(Clock::now() - start).count(), resume ? "resumed" : "fresh",
                  static_cast<long long>(saved), static_cast<long long>(now_saved),
                  died && during_write ? ", checkpoint temp file left behind" : "");
    }
    ::inotify_rm_watch(watch_fd, wd);

    // The run completed: it must be the uninterrupted run, bit for bit.
    CHECK(check_checkpoints_load(dir) == epochs);
    check_same_tensors(ref / "last.safetensors", dir / "last.safetensors");
    check_same_tensors(ref / "best.safetensors", dir / "best.safetensors");
    check_same_tensors(ref / "train_state.safetensors", dir / "train_state.safetensors");
    CHECK(metrics_without_timing(ref / "metrics.csv") == metrics_without_timing(dir / "metrics.csv"));
    CHECK(metrics_without_timing(dir / "metrics.csv").size() == epochs + 1);
    CHECK(temp_files_in(dir).empty());  // the litter of the killed runs was cleaned up
    CHECK(fs::exists(dir / "report.html"));
    ++rounds;
  }
  ::close(watch_fd);
  std::printf("crash safety: %d kills (%d inside a checkpoint write, the temporary file left behind), %d invocations "
              "(%d resumes, %d ran to the end), %d completed runs, each bit-identical to the uninterrupted run\n",
              kills_done, kills_in_write, invocations, resumes, finished, rounds);
  CHECK(kills_in_write >= 1);  // the schedule really did hit a write
}

TEST_CASE("train_resnet out of memory: bytes asked and in use, a smaller-batch hint, exit code 2", "[apps][oom]") {
  TempDir tmp;
  // kTinyArgs with another batch size and folder.
  auto tiny = [&](const std::string& batch, const std::string& out) {
    std::vector<std::string> a;
    for (std::size_t i = 0; i < kTinyArgs.size(); i += 2)
      a.insert(a.end(), {kTinyArgs[i], kTinyArgs[i] == "--batch-size" ? batch : kTinyArgs[i + 1]});
    a.insert(a.end(), {"--quiet", "--epochs", "1", "--out", (tmp.path / out).string()});
    return a;
  };
  // The limit lets a batch of 16 train (it peaks below 2 MiB) and a batch of 224 not (it needs
  // more than 8 MiB): measured, with a factor of two either way.
  const std::pair<std::string, std::string> limit{"MINIDL_CPU_MEMORY_LIMIT", "4M"};
  RunResult r = run_to_end(tiny("224", "run224"), tmp.path / "oom", {limit});
  INFO(r.out << r.err);
  CHECK(r.code == 2);
  CHECK_THAT(r.err, Contains("CPU out of memory: tried to allocate") && Contains("in use") &&
                        Contains("limit of 4194304 bytes") && Contains("try a smaller --batch-size"));
  CHECK(r.err.find("terminate") == std::string::npos);

  r = run_to_end(tiny("16", "run16"), tmp.path / "fits", {limit});
  INFO(r.out << r.err);
  CHECK(r.code == 0);

  // A limit that is not a size is refused, naming the variable.
  r = run_to_end(tiny("16", "bad"), tmp.path / "bad", {{"MINIDL_CPU_MEMORY_LIMIT", "lots"}});
  CHECK(r.code == 1);
  CHECK_THAT(r.err, Contains("MINIDL_CPU_MEMORY_LIMIT='lots'"));
}

TEST_CASE("cuda: train_resnet on the GPU past MINIDL_CUDA_MEMORY_LIMIT exits 2 with the same message", "[apps][oom][cuda]") {
  if (!minidl::cuda_available()) {
    std::printf("MINIDL_SKIPPED: no CUDA device visible\n");
    return;
  }
  TempDir tmp;
  std::vector<std::string> args;
  for (std::size_t i = 0; i < kTinyArgs.size(); i += 2)
    if (kTinyArgs[i] != "--device" && kTinyArgs[i] != "--batch-size") args.insert(args.end(), {kTinyArgs[i], kTinyArgs[i + 1]});
  args.insert(args.end(), {"--device", "cuda", "--batch-size", "224", "--quiet", "--epochs", "1", "--out",
                           (tmp.path / "run").string()});
  const RunResult r = run_to_end(args, tmp.path / "oom", {{"MINIDL_CUDA_MEMORY_LIMIT", "4M"}});
  INFO(r.out << r.err);
  CHECK(r.code == 2);
  CHECK_THAT(r.err, Contains("CUDA out of memory: tried to allocate") && Contains("in use") &&
                        Contains("limit of 4194304 bytes") && Contains("try a smaller --batch-size"));
}
