// Crash safety of train_resnet: a process that stops dead inside a checkpoint write, or is
// SIGKILLed at any moment, must leave checkpoints that load, and --resume must then finish the
// run with weights bit-identical to an uninterrupted run of the same seed (CPU). Also the
// out-of-memory path of the apps, driven through the allocator limits from the environment.
//
// The moments that matter (inside the temporary file's length prefix, header and data, after
// it is complete but before the rename, after the rename) are hit every time through the
// writer's fault-injection hook (MINIDL_FAULT_CHECKPOINT, core/fault_injection.h), not by timing
// a kill. The random kills only add coverage of everywhere else (data generation, training
// steps, validation); their schedule is seeded (MINIDL_CRASH_SEED, fixed by default, so CI
// replays the same schedule) and nothing they assert depends on where they land.
// MINIDL_CRASH_KILLS changes their number (default 4). Every child process and each whole test
// has a wall-clock bound, so a hang fails the test instead of stalling the suite.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
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
#include "support.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kTrain = std::string(MINIDL_BINARY_DIR) + "/apps/train_resnet";
// The apps tests' tiny configuration (flag, value pairs), on the CPU; runs add --quiet.
const std::vector<std::string> kTinyArgs = {"--width", "4", "--input-size", "32", "--synthetic-size", "280",
                                            "--batch-size", "16", "--workers", "1", "--seed", "3", "--device", "cpu"};
constexpr int kEpochs = 3;

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The wall-clock bound of a whole test (MINIDL_CRASH_BUDGET_S, default 600 s: well inside the
// CTest limit of 900 s, several times what the test takes on a loaded 2-core machine).
struct Deadline {
  Clock::time_point start = Clock::now();
  double budget_s = std::getenv("MINIDL_CRASH_BUDGET_S") ? std::atof(std::getenv("MINIDL_CRASH_BUDGET_S")) : 600.0;
  double left_s() const { return budget_s - seconds_since(start); }
};

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

// Waits for the child, for at most limit_s (then kills it and fails); returns its exit code, or
// -signal when a signal ended it. With kill_after_s >= 0, sends SIGKILL once that much time has
// passed (a random kill); *killed says whether it was sent before the child ended.
int wait_for(const Child& c, double limit_s, double kill_after_s = -1, bool* killed = nullptr) {
  const auto start = Clock::now();
  if (killed) *killed = false;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(c.pid, &status, WNOHANG);
    if (r == c.pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    REQUIRE((r == 0 || errno == EINTR));
    const double t = seconds_since(start);
    if (kill_after_s >= 0 && t >= kill_after_s && !(killed && *killed)) {
      ::kill(c.pid, SIGKILL);
      if (killed) *killed = true;
    }
    if (t > limit_s) {
      ::kill(c.pid, SIGKILL);
      ::waitpid(c.pid, &status, 0);
      FAIL("train_resnet ran over its time limit of " << limit_s << " s and was killed; stderr:\n" << slurp(c.err));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

struct RunResult {
  int code;
  std::string out, err;
};
RunResult run_to_end(const std::vector<std::string>& args, const fs::path& log_prefix,
                     const std::vector<std::pair<std::string, std::string>>& env = {}, double limit_s = 600) {
  const Child c = spawn(args, log_prefix, env);
  const int code = wait_for(c, limit_s);
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
    minidl::SGD opt(model->named_parameters(), minidl::SGDOptions(0.1).momentum(0.9).weight_decay(5e-4));
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

// The run in `dir` completed: it must be the uninterrupted run `ref`, bit for bit, with the
// litter of its killed invocations cleaned up.
void check_same_run(const fs::path& ref, const fs::path& dir) {
  CHECK(check_checkpoints_load(dir) == kEpochs);
  check_same_tensors(ref / "last.safetensors", dir / "last.safetensors");
  check_same_tensors(ref / "best.safetensors", dir / "best.safetensors");
  check_same_tensors(ref / "train_state.safetensors", dir / "train_state.safetensors");
  CHECK(metrics_without_timing(ref / "metrics.csv") == metrics_without_timing(dir / "metrics.csv"));
  CHECK(metrics_without_timing(dir / "metrics.csv").size() == kEpochs + 1);
  CHECK(temp_files_in(dir).empty());
  CHECK(fs::exists(dir / "report.html"));
}

// The tiny training run, uninterrupted: the reference every interrupted run must reproduce.
struct Reference {
  fs::path dir;
  double seconds = 0;
};

std::vector<std::string> tiny_run_args(const fs::path& dir) {
  auto a = kTinyArgs;
  // --force: a fresh start replaces what a run killed before its first training state left (a
  // run folder that holds checkpoints is refused without it).
  a.insert(a.end(), {"--quiet", "--epochs", std::to_string(kEpochs), "--out", dir.string(), "--force"});
  return a;
}

Reference reference_run(const minidl::test::TempDir& tmp, const Deadline& deadline) {
  Reference r{tmp.path() / "reference", 0};
  const auto t0 = Clock::now();
  const RunResult run = run_to_end(tiny_run_args(r.dir), tmp.path() / "reference", {}, deadline.left_s());
  r.seconds = seconds_since(t0);
  INFO(run.out << run.err);
  REQUIRE(run.code == 0);
  return r;
}

// The arguments of the next invocation in `dir`: --resume once a training state is saved.
std::vector<std::string> next_invocation(const fs::path& dir) {
  if (fs::exists(dir / "train_state.safetensors")) return {"--quiet", "--resume", dir.string()};
  return tiny_run_args(dir);
}

// The temporary file a fault left, from the writer's last words on stderr ("... while writing PATH").
fs::path faulted_temp_file(const std::string& err, pid_t pid) {
  const std::string tag = "while writing ";
  const auto at = err.rfind(tag);
  REQUIRE(at != std::string::npos);
  const auto end = err.find('\n', at);
  return err.substr(at + tag.size(), end - at - tag.size()) + ".tmp." + std::to_string(pid);
}

}  // namespace

TEST_CASE("train_resnet stopped dead at each point of a checkpoint write resumes exactly", "[apps][crash]") {
  const Deadline deadline;
  minidl::test::TempDir tmp("crash");
  const Reference ref = reference_run(tmp, deadline);
  const double limit_s = std::max(120.0, 10 * ref.seconds);  // one invocation, on a loaded machine

  // One run folder, interrupted by each fault in turn (MINIDL_FAULT_CHECKPOINT=N:POINT: the
  // N-th checkpoint write of that invocation stops there), then resumed to the end. A write
  // happens after every epoch (best when it improved, last, train_state), so each fault lands
  // inside a write that exists. The byte counts fall in the 8-byte length prefix, in the JSON
  // header, and in the tensor data.
  struct Fault {
    std::string spec;
    std::int64_t bytes;  // > 0: the temporary file must hold exactly this many bytes
  };
  const std::vector<Fault> faults = {
      {"1:bytes=5", 5},            // epoch 1's first write, inside the length prefix
      {"2:bytes=100", 100},        // its second, inside the header
      {"3:bytes=50000", 50000},    // its training state, inside the tensors
      {"3:temp-written", 0},       // the training state complete, not renamed
      {"3:renamed", 0},            // renamed, the directory not synced: epoch 1 is saved
      {"1:bytes=20000", 20000},    // resumed: epoch 2's first write
      {"2:temp-written", 0},       // resumed again: epoch 2's second write
  };
  const fs::path dir = tmp.path() / "faulted";
  fs::create_directories(dir);
  int invocation = 0;
  std::int64_t saved = 0;
  for (const Fault& f : faults) {
    INFO("MINIDL_FAULT_CHECKPOINT=" << f.spec);
    const std::vector<std::string> args = next_invocation(dir);
    const Child c = spawn(args, tmp.path() / ("fault" + std::to_string(invocation++)),
                          {{"MINIDL_FAULT_CHECKPOINT", f.spec}});
    const int code = wait_for(c, std::min(limit_s, deadline.left_s()));
    const std::string err = slurp(c.err);
    INFO(err);
    REQUIRE(code == -SIGKILL);  // it stopped dead where the fault was planned, every time
    REQUIRE_THAT(err, Contains("MINIDL_FAULT_CHECKPOINT: stopping dead"));
    const std::int64_t now_saved = check_checkpoints_load(dir);  // every checkpoint still loads
    CHECK(now_saved >= saved);                                    // and no saved epoch is lost
    const fs::path temp = faulted_temp_file(err, c.pid);
    if (f.spec.find("renamed") != std::string::npos) {
      CHECK_FALSE(fs::exists(temp));  // the new file is in place
    } else {
      REQUIRE(fs::exists(temp));  // the half-written file is left as a crash leaves it, beside the old one
      if (f.bytes > 0) CHECK(static_cast<std::int64_t>(fs::file_size(temp)) == f.bytes);
    }
    std::printf("  fault %-16s: stopped in %s, epochs saved %lld -> %lld\n", f.spec.c_str(),
                temp.filename().string().c_str(), static_cast<long long>(saved), static_cast<long long>(now_saved));
    saved = now_saved;
  }
  CHECK(saved >= 1);  // the schedule got past epoch 1, so the last faults hit resumed runs

  // A malformed plan is an error naming the variable (at the first write), not a silent no-op.
  const RunResult bad = run_to_end(next_invocation(dir), tmp.path() / "badspec", {{"MINIDL_FAULT_CHECKPOINT", "3:sometime"}},
                                   std::min(limit_s, deadline.left_s()));
  CHECK(bad.code == 1);
  CHECK_THAT(bad.err, Contains("MINIDL_FAULT_CHECKPOINT='3:sometime'"));
  const RunResult done = run_to_end(next_invocation(dir), tmp.path() / "final", {}, std::min(limit_s, deadline.left_s()));
  INFO(done.out << done.err);
  REQUIRE(done.code == 0);
  check_same_run(ref.dir, dir);
  std::printf("crash safety: %zu faults inside checkpoint writes, then resumed to the end (%.1f s of %.0f s budget)\n",
              faults.size(), seconds_since(deadline.start), deadline.budget_s);
}

TEST_CASE("train_resnet killed with SIGKILL at random moments resumes exactly", "[apps][crash]") {
  const Deadline deadline;
  minidl::test::TempDir tmp("crash_random");
  const Reference ref = reference_run(tmp, deadline);
  double full_s = ref.seconds;
  const double limit_s = std::max(120.0, 10 * ref.seconds);

  // Fixed by default: every run of the suite uses the same schedule (the kills still land
  // wherever the machine's speed puts them; nothing below depends on where).
  const std::uint64_t seed = std::getenv("MINIDL_CRASH_SEED") ? std::stoull(std::getenv("MINIDL_CRASH_SEED")) : 20261201;
  const int kills = std::getenv("MINIDL_CRASH_KILLS") ? std::atoi(std::getenv("MINIDL_CRASH_KILLS")) : 4;
  std::mt19937_64 rng(seed);
  std::printf("crash safety: seed %llu (MINIDL_CRASH_SEED), %d kills, uninterrupted run %.2f s\n",
              static_cast<unsigned long long>(seed), kills, full_s);

  // Rounds: a fresh run folder each, started, killed, resumed, killed... until an invocation
  // completes the run; then it must equal the reference bit for bit.
  int rounds = 0, invocations = 0, kills_done = 0;
  while (kills_done < kills) {
    const fs::path dir = tmp.path() / ("killed" + std::to_string(rounds));
    fs::create_directories(dir);
    for (bool done = false; !done;) {
      REQUIRE(invocations < 4 * kills + 10);  // progress is made: a kill never loses a saved epoch
      const bool kill = kills_done < kills;
      const std::vector<std::string> args = next_invocation(dir);
      const std::int64_t saved = args[1] == "--resume" ? check_checkpoints_load(dir) : 0;
      // A random fraction of the time this invocation has left.
      const double left_s = full_s * (0.2 + static_cast<double>(kEpochs - saved) / kEpochs);
      const double delay_s = std::uniform_real_distribution<double>(0.02, 0.9)(rng) * left_s;
      const Child c = spawn(args, tmp.path() / ("run" + std::to_string(invocations++)));
      const auto start = Clock::now();
      bool killed = false;
      const int code = wait_for(c, std::min(limit_s, deadline.left_s()), kill ? delay_s : -1, &killed);
      const bool died = killed && code == -SIGKILL;
      if (!died) {
        INFO(slurp(c.err));
        REQUIRE(code == 0);  // it ended before the kill (or was not to be killed): it must have succeeded
        done = true;
        if (saved == 0) full_s = std::min(full_s, seconds_since(start));  // aim by the fastest run seen
      }
      kills_done += died;
      const std::int64_t now_saved = check_checkpoints_load(dir);
      CHECK(now_saved >= saved);  // a kill never takes a saved epoch away
      std::printf("  round %d: %-8s after %5.2f s, epochs saved %lld -> %lld\n", rounds, died ? "killed" : "finished",
                  seconds_since(start), static_cast<long long>(saved), static_cast<long long>(now_saved));
    }
    check_same_run(ref.dir, dir);
    ++rounds;
  }
  std::printf("crash safety: %d random kills, %d invocations, %d completed runs compared with the uninterrupted run "
              "(%.1f s of %.0f s budget)\n",
              kills_done, invocations, rounds, seconds_since(deadline.start), deadline.budget_s);
}

TEST_CASE("train_resnet out of memory: bytes asked and in use, a smaller-batch hint, exit code 2", "[apps][oom]") {
  minidl::test::TempDir tmp("oom");
  // kTinyArgs with another batch size and folder.
  auto tiny = [&](const std::string& batch, const std::string& out) {
    std::vector<std::string> a;
    for (std::size_t i = 0; i < kTinyArgs.size(); i += 2)
      a.insert(a.end(), {kTinyArgs[i], kTinyArgs[i] == "--batch-size" ? batch : kTinyArgs[i + 1]});
    a.insert(a.end(), {"--quiet", "--epochs", "1", "--out", (tmp.path() / out).string()});
    return a;
  };
  // The limit lets a batch of 16 train (it peaks below 2 MiB) and a batch of 224 not (it needs
  // more than 8 MiB): measured, with a factor of two either way.
  const std::pair<std::string, std::string> limit{"MINIDL_CPU_MEMORY_LIMIT", "4M"};
  RunResult r = run_to_end(tiny("224", "run224"), tmp.path() / "oom", {limit});
  INFO(r.out << r.err);
  CHECK(r.code == 2);
  CHECK_THAT(r.err, Contains("CPU out of memory: tried to allocate") && Contains("in use") &&
                        Contains("limit of 4194304 bytes") && Contains("try a smaller --batch-size"));
  CHECK(r.err.find("terminate") == std::string::npos);

  r = run_to_end(tiny("16", "run16"), tmp.path() / "fits", {limit});
  INFO(r.out << r.err);
  CHECK(r.code == 0);

  // A limit that is not a size is refused, naming the variable.
  r = run_to_end(tiny("16", "bad"), tmp.path() / "bad", {{"MINIDL_CPU_MEMORY_LIMIT", "lots"}});
  CHECK(r.code == 1);
  CHECK_THAT(r.err, Contains("MINIDL_CPU_MEMORY_LIMIT='lots'"));
}

TEST_CASE("cuda: train_resnet on the GPU past MINIDL_CUDA_MEMORY_LIMIT exits 2 with the same message", "[apps][oom][cuda]") {
  if (minidl::test::no_gpu()) return;
  minidl::test::TempDir tmp("oom");
  std::vector<std::string> args;
  for (std::size_t i = 0; i < kTinyArgs.size(); i += 2)
    if (kTinyArgs[i] != "--device" && kTinyArgs[i] != "--batch-size") args.insert(args.end(), {kTinyArgs[i], kTinyArgs[i + 1]});
  args.insert(args.end(), {"--device", "cuda", "--batch-size", "224", "--quiet", "--epochs", "1", "--out",
                           (tmp.path() / "run").string()});
  const RunResult r = run_to_end(args, tmp.path() / "oom", {{"MINIDL_CUDA_MEMORY_LIMIT", "4M"}});
  INFO(r.out << r.err);
  CHECK(r.code == 2);
  CHECK_THAT(r.err, Contains("CUDA out of memory: tried to allocate") && Contains("in use") &&
                        Contains("limit of 4194304 bytes") && Contains("try a smaller --batch-size"));
}
