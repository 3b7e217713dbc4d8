// The fuzzed parsers, one function per target: each feeds one input to a reader the way a
// user's file reaches it. Shared by the libFuzzer targets (fuzz_*.cpp, built with
// -DMINIDL_FUZZ=ON and clang) and by the Catch2 test that replays the seed corpora and every
// input the fuzzers ever crashed on (tests/fuzz/test_fuzz_regressions.cpp), so that those inputs
// stay fixed in every build, with or without clang.
//
// Contract: a function returns normally or throws minidl::Error (a DataError naming the file
// and what is wrong). Anything else, another exception, a crash, a sanitizer report, a hang or
// an allocation of gigabytes, is a bug.
#pragma once

#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "minidl/base/error.h"
#include "minidl/core/safetensors.h"
#include "minidl/data/fer2013_csv.h"
#include "minidl/data/idx.h"
#include "minidl/data/image.h"
#include "minidl/data/image_io.h"

namespace minidl::fuzz {

// The path-based readers need a file: an in-memory one (memfd, reached as /proc/self/fd/N), so
// that a fuzzer running 10^5 inputs a second does not wear a disk. Falls back to a temporary file.
class InputFile {
 public:
  explicit InputFile(const char* tag) {
#if defined(__linux__) && defined(MFD_CLOEXEC)
    fd_ = ::memfd_create(tag, MFD_CLOEXEC);
    if (fd_ >= 0) path_ = "/proc/self/fd/" + std::to_string(fd_);
#endif
    if (fd_ < 0) {
      std::string tmpl = std::string("/tmp/minidl_fuzz_") + tag + "_XXXXXX";
      fd_ = ::mkstemp(tmpl.data());
      if (fd_ < 0) {
        std::perror("minidl fuzz: cannot create an input file");
        std::abort();
      }
      path_ = tmpl;
      unlink_ = true;
    }
  }
  ~InputFile() {
    ::close(fd_);
    if (unlink_) ::unlink(path_.c_str());
  }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  // Replaces the file's contents; returns its path.
  const std::string& write(const std::uint8_t* data, std::size_t size) {
    if (::ftruncate(fd_, 0) != 0) fail("ftruncate");
    std::size_t done = 0;
    while (done < size) {
      const ssize_t n = ::pwrite(fd_, data + done, size - done, static_cast<off_t>(done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fail("pwrite");
      done += static_cast<std::size_t>(n);
    }
    return path_;
  }

 private:
  [[noreturn]] static void fail(const char* what) {
    std::perror(what);
    std::abort();
  }
  int fd_ = -1;
  std::string path_;
  bool unlink_ = false;
};

// load_safetensors and read_safetensors_metadata on the bytes as a file.
inline void safetensors(const std::uint8_t* data, std::size_t size) {
  static InputFile file("safetensors");
  const std::string& path = file.write(data, size);
  const TensorFile f = load_safetensors(path);
  // Touch every byte the reader says it loaded: a tensor smaller than its shape shows here.
  std::uint64_t sum = 0;
  for (const auto& [name, t] : f.tensors) {
    const auto* p = static_cast<const std::uint8_t*>(t.raw_data());
    for (std::size_t i = 0; i < t.nbytes(); ++i) sum += p[i];
  }
  (void)sum;
  const auto meta = read_safetensors_metadata(path);
  if (meta != f.metadata) std::abort();  // the two readers must agree
}

// Fer2013Csv. The first byte picks the options (so that short rows can be valid):
//   bits 0-2: side - 1 (rows hold side*side pixels, side 1..8)
//   bit 3:    skip_bad_rows
//   bit 4:    get() resizes to 5x3 instead of returning side x side
// the rest is the CSV text.
inline void fer2013_csv(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return;
  static InputFile file("fer2013_csv");
  data::Fer2013Options o;
  o.side = 1 + (data[0] & 7);
  o.skip_bad_rows = (data[0] & 8) != 0;
  o.height = (data[0] & 16) ? 5 : o.side;
  o.width = (data[0] & 16) ? 3 : o.side;
  const data::Fer2013Csv csv(file.write(data + 1, size - 1), o);
  // A successful read holds at least one row, each with a class label and a full image.
  if (csv.size() < 1) std::abort();
  for (std::int64_t i : {std::int64_t{0}, csv.size() - 1}) {
    const data::Sample s = csv.get(i);
    if (s.label < 0 || s.label >= 7 || s.image.h != o.height || s.image.w != o.width ||
        static_cast<std::int64_t>(s.image.pixels.size()) != o.height * o.width)
      std::abort();
  }
  (void)csv.description();
  std::size_t total = 0;
  for (auto u : {data::Fer2013Csv::Usage::None, data::Fer2013Csv::Usage::Training, data::Fer2013Csv::Usage::PublicTest,
                 data::Fer2013Csv::Usage::PrivateTest})
    total += csv.indices_with_usage(u).size();
  if (static_cast<std::int64_t>(total) != csv.size()) std::abort();
}

// read_idx. The first byte picks the encoding of the rest: even: the file as is (plain IDX, or
// gzip bytes the fuzzer made), odd: gzip-compressed here first, so that the fuzzer's mutations
// of IDX headers also reach the reader through zlib.
inline void idx(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return;
  static InputFile file("idx");
  const std::uint8_t* body = data + 1;
  std::size_t body_size = size - 1;
  std::vector<std::uint8_t> gz;
  if (data[0] & 1) {
    z_stream zs{};
    // windowBits 15 + 16: a gzip wrapper, as gzip(1) writes.
    if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) std::abort();
    gz.resize(deflateBound(&zs, static_cast<uLong>(body_size)) + 32);
    zs.next_in = const_cast<Bytef*>(body);
    zs.avail_in = static_cast<uInt>(body_size);
    zs.next_out = gz.data();
    zs.avail_out = static_cast<uInt>(gz.size());
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END) std::abort();
    gz.resize(zs.total_out);
    deflateEnd(&zs);
    body = gz.data();
    body_size = gz.size();
  }
  const data::IdxArray a = data::read_idx(file.write(body, body_size));
  std::size_t total = 1;
  for (auto d : a.dims) total *= static_cast<std::size_t>(d);
  if (a.dims.empty() || total != a.values.size()) std::abort();  // the header and the data agree
}

// decode_image_gray (stb_image and our checks), then resize down and up.
inline void image(const std::uint8_t* data, std::size_t size) {
  const data::GrayImage img = data::decode_image_gray(data, size, "fuzz input");
  if (img.h <= 0 || img.w <= 0 || static_cast<std::int64_t>(img.pixels.size()) != img.h * img.w) std::abort();
  (void)data::resize(img, 48, 48);
  (void)data::resize(img, 7, 13);
}

struct Target {
  const char* name;
  void (*run)(const std::uint8_t*, std::size_t);
};

inline const std::vector<Target>& targets() {
  static const std::vector<Target> all = {
      {"safetensors", &safetensors}, {"fer2013_csv", &fer2013_csv}, {"idx", &idx}, {"image", &image}};
  return all;
}

}  // namespace minidl::fuzz

// The body of every libFuzzer target: bad input must end in minidl::Error and nothing else.
#define MINIDL_FUZZ_TARGET(fn)                                                 \
  extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) { \
    try {                                                                      \
      minidl::fuzz::fn(data, size);                                            \
    } catch (const minidl::Error&) {                                           \
    }                                                                          \
    return 0;                                                                  \
  }
