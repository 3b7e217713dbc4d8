// What the four experiments share, and nothing minidl-specific: the command line (--name VALUE
// options and --help), one training epoch over a DataLoader, and a classifier's accuracy.
#pragma once

#include <minidl/minidl.h>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <string>

namespace experiment {

// One `--name VALUE` option and the variable its value goes to.
struct Option {
  Option(const char* name, std::int64_t* v) : name(name), set([v](const std::string& s) { *v = std::stoll(s); }) {}
  Option(const char* name, int* v) : name(name), set([v](const std::string& s) { *v = std::stoi(s); }) {}
  Option(const char* name, double* v) : name(name), set([v](const std::string& s) { *v = std::stod(s); }) {}
  Option(const char* name, std::string* v) : name(name), set([v](const std::string& s) { *v = s; }) {}
  const char* name;
  std::function<void(const std::string&)> set;
};

// Reads argv into `options`. Returns -1 to go on, or the status to exit with: 0 after --help
// (usage printed), 1 for an option that is unknown or has no value (said on stderr).
inline int parse_args(int argc, char** argv, const char* program, const std::string& usage,
                      std::initializer_list<Option> options) {
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--help" || k == "-h") return std::printf("%s", usage.c_str()), 0;
    if (i + 1 >= argc) return std::fprintf(stderr, "%s: %s needs a value (see --help)\n", program, k.c_str()), 1;
    const Option* found = nullptr;
    for (const Option& o : options)
      if (k == o.name) found = &o;
    if (!found) return std::fprintf(stderr, "%s: unknown option %s (see --help)\n", program, k.c_str()), 1;
    found->set(argv[++i]);
  }
  return -1;
}

// One epoch of cross-entropy training over `loader` (in the order of `epoch`'s seed); returns
// the mean loss of its steps.
inline double train_epoch(minidl::Module& model, minidl::Optimizer& opt, minidl::data::DataLoader& loader,
                          std::int64_t epoch) {
  model.train();
  loader.start_epoch(epoch);
  minidl::data::Batch b;
  double sum = 0;
  std::int64_t steps = 0;
  while (loader.next(b)) {
    opt.zero_grad();
    minidl::Tensor loss = minidl::cross_entropy(model(b.images), b.labels);
    loss.backward();
    opt.step();
    sum += loss.item();
    ++steps;
  }
  return sum / static_cast<double>(steps);
}

// How many of `loader`'s images the model (in eval mode, without gradients) classifies right.
struct Accuracy {
  std::int64_t right = 0, seen = 0;
  double fraction() const { return static_cast<double>(right) / static_cast<double>(seen); }
};
inline Accuracy accuracy(minidl::Module& model, minidl::data::DataLoader& loader) {
  model.eval();
  minidl::NoGradGuard no_grad;
  Accuracy a;
  loader.start_epoch(0);
  minidl::data::Batch b;
  while (loader.next(b)) {
    const auto pred = minidl::argmax(model(b.images), 1).to_vector<std::int64_t>();
    const auto want = b.labels.to_vector<std::int64_t>();
    for (std::size_t j = 0; j < pred.size(); ++j) a.right += pred[j] == want[j];
    a.seen += b.size();
  }
  return a;
}

}  // namespace experiment
