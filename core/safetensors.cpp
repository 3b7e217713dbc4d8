#include "minidl/core/safetensors.h"

#include "minidl/core/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <set>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace minidl {
namespace {

// The reference implementation refuses headers above 100 MB; so do we, so that a file that
// claims a huge header is refused before anything is allocated for it.
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;
// A valid header nests three deep (root object, tensor entry, shape list). The limit keeps a
// hostile header from building deep structures; the parser itself is not recursive.
constexpr int kMaxJsonDepth = 8;
constexpr const char* kMetadataKey = "__metadata__";
constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();

#if defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
constexpr bool kHostBigEndian = true;
#else
constexpr bool kHostBigEndian = false;
#endif

// The file stores little-endian elements; on a big-endian host each element is reversed.
[[maybe_unused]] void reverse_elements(char* p, std::size_t bytes, std::size_t elem_size) {
  for (std::size_t i = 0; i + elem_size <= bytes; i += elem_size) std::reverse(p + i, p + i + elem_size);
}

// A name or value from a file, fit to print in a message: quoted, control and non-ASCII bytes
// escaped, and cut short when long (a fuzzed header can hold megabytes in one key).
std::string quoted(const std::string& s, std::size_t max_len = 120) {
  static const char* hex = "0123456789abcdef";
  std::string out = "'";
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i == max_len) {
      out += "...";
      break;
    }
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out + "'";
}

template <typename... Args>
[[noreturn]] void bad_file(const std::string& path, const Args&... args) {
  throw DataError(detail::str("safetensors file '", path, "': ", args...));
}

template <typename... Args>
[[noreturn]] void save_failed(const std::string& path, const Args&... args) {
  throw Error(detail::str("save_safetensors '", path, "': ", args...));
}

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  // Closes now and reports close's errors (a write-back error can surface only here).
  int close() {
    const int fd = fd_;
    fd_ = -1;
    return ::close(fd);
  }

 private:
  int fd_;
};

// ----- reading -----

struct Entry {
  std::string name;
  DType dtype = DType::Float32;
  Shape shape;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
};

struct Header {
  std::vector<Entry> entries;
  std::map<std::string, std::string> metadata;
  std::uint64_t data_start = 0;  // file offset of the data section
  std::uint64_t data_size = 0;
};

// Reads exactly n bytes at offset; returns false when the file ends first.
bool read_at(const std::string& path, int fd, void* buf, std::size_t n, std::uint64_t offset) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    const std::size_t chunk = std::min<std::size_t>(n, std::size_t{1} << 30);
    const ssize_t got = ::pread(fd, p, chunk, static_cast<off_t>(offset));
    if (got < 0) {
      if (errno == EINTR) continue;
      bad_file(path, "read failed: ", std::strerror(errno));
    }
    if (got == 0) return false;
    p += got;
    n -= static_cast<std::size_t>(got);
    offset += static_cast<std::uint64_t>(got);
  }
  return true;
}

const char* dtype_code(DType t) {
  switch (t) {
    case DType::Float32: return "F32";
    case DType::Float64: return "F64";
    case DType::Int64: return "I64";
  }
  return "?";
}

DType parse_dtype(const std::string& path, const std::string& name, const std::string& code) {
  if (code == "F32") return DType::Float32;
  if (code == "F64") return DType::Float64;
  if (code == "I64") return DType::Int64;
  // The other dtypes of the format: named as such, so that the user knows the file is fine
  // and minidl is what falls short.
  static const std::set<std::string> known = {"BOOL", "U8",     "I8",     "U16",    "I16",     "F16",     "BF16",
                                              "U32",  "I32",    "U64",    "C64",    "F8_E4M3", "F8_E5M2", "F8_E8M0",
                                              "F4",   "F6_E2M3", "F6_E3M2"};
  if (known.count(code))
    bad_file(path, "tensor ", quoted(name), " has dtype ", code,
             ", which minidl does not support (it reads F32, F64 and I64; convert the tensor first)");
  bad_file(path, "tensor ", quoted(name), " has unknown dtype ", quoted(code),
           " (safetensors dtypes minidl reads: F32, F64, I64)");
}

// Whether v is an integer in [0, max]; its value goes to out.
bool as_count(const nlohmann::json& v, std::uint64_t max, std::uint64_t& out) {
  if (v.is_number_unsigned()) {
    out = v.get<std::uint64_t>();
  } else if (v.is_number_integer()) {
    const auto s = v.get<std::int64_t>();
    if (s < 0) return false;
    out = static_cast<std::uint64_t>(s);
  } else {
    return false;
  }
  return out <= max;
}

std::string json_excerpt(const nlohmann::json& v) { return quoted(v.dump(), 60); }

Entry parse_entry(const std::string& path, const std::string& name, const nlohmann::json& v,
                  std::uint64_t data_size) {
  Entry e;
  e.name = name;
  const std::string what = "tensor " + quoted(name);
  if (!v.is_object())
    bad_file(path, what, ": its entry is ", v.type_name(), ", expected an object with dtype, shape and data_offsets");
  for (const auto& item : v.items()) {
    const std::string& field = item.key();
    if (field != "dtype" && field != "shape" && field != "data_offsets")
      bad_file(path, what, ": unknown field ", quoted(field), " (expected dtype, shape and data_offsets)");
  }
  for (const char* field : {"dtype", "shape", "data_offsets"})
    if (!v.contains(field)) bad_file(path, what, ": no \"", field, "\" field");

  const auto& dtype = v.at("dtype");
  if (!dtype.is_string()) bad_file(path, what, ": dtype is ", json_excerpt(dtype), ", expected a string such as \"F32\"");
  e.dtype = parse_dtype(path, name, dtype.get<std::string>());

  // Every partial product of the dimensions must fit in int64, so that numel_of() (which
  // multiplies in that order) never overflows.
  const auto& shape = v.at("shape");
  if (!shape.is_array()) bad_file(path, what, ": shape is ", json_excerpt(shape), ", expected a list of non-negative integers");
  std::uint64_t numel = 1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    std::uint64_t d = 0;
    if (!as_count(shape[i], static_cast<std::uint64_t>(kInt64Max), d))
      bad_file(path, what, ": shape ", json_excerpt(shape), " is not a list of non-negative integers (dimension ", i,
               " is ", json_excerpt(shape[i]), ")");
    if (d != 0 && numel > static_cast<std::uint64_t>(kInt64Max) / d)
      bad_file(path, what, ": shape ", json_excerpt(shape), " has more elements than fit in 64 bits");
    numel *= d;
    e.shape.push_back(static_cast<std::int64_t>(d));
  }
  const std::uint64_t elem = dtype_size(e.dtype);
  if (numel > std::numeric_limits<std::uint64_t>::max() / elem)
    bad_file(path, what, ": shape ", shape_str(e.shape), " is too large to be stored");
  const std::uint64_t bytes = numel * elem;

  const auto& offsets = v.at("data_offsets");
  const auto u64max = std::numeric_limits<std::uint64_t>::max();
  if (!offsets.is_array() || offsets.size() != 2 || !as_count(offsets[0], u64max, e.begin) ||
      !as_count(offsets[1], u64max, e.end))
    bad_file(path, what, ": data_offsets is ", json_excerpt(offsets), ", expected [begin, end] (non-negative integers)");
  const std::string range = detail::str("data_offsets [", e.begin, ", ", e.end, "]");
  if (e.end < e.begin) bad_file(path, what, ": ", range, " end before they begin");
  if (e.end > data_size)
    bad_file(path, what, ": ", range, " are out of range: the data section holds ", data_size, " bytes");
  if (e.end - e.begin != bytes)
    bad_file(path, what, ": ", range, " hold ", e.end - e.begin, " bytes, but ", dtype_code(e.dtype), " shape ",
             shape_str(e.shape), " needs ", bytes);
  return e;
}

nlohmann::json parse_json(const std::string& path, const std::string& text) {
  // The callback refuses what nlohmann would otherwise accept silently: a key given twice in
  // one object (the last would win, so two readers could disagree on a tensor), and deep nesting.
  using Event = nlohmann::json::parse_event_t;
  std::vector<std::set<std::string>> open_objects;
  int depth = 0;
  auto check = [&](int, Event event, nlohmann::json& parsed) {
    switch (event) {
      case Event::object_start:
      case Event::array_start:
        if (++depth > kMaxJsonDepth) bad_file(path, "header JSON nests deeper than ", kMaxJsonDepth, " levels");
        if (event == Event::object_start) open_objects.emplace_back();
        break;
      case Event::object_end:
        open_objects.pop_back();
        --depth;
        break;
      case Event::array_end:
        --depth;
        break;
      case Event::key:
        if (!open_objects.empty() && !open_objects.back().insert(parsed.get<std::string>()).second)
          bad_file(path, "header JSON has the key ", quoted(parsed.get<std::string>()), " twice in one object");
        break;
      case Event::value:
        break;
    }
    return true;
  };
  try {
    return nlohmann::json::parse(text, check, /*allow_exceptions=*/true, /*ignore_comments=*/false);
  } catch (const nlohmann::json::exception& e) {
    std::string msg = e.what();
    for (char& c : msg)
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
    bad_file(path, "header is not valid JSON (", msg, ")");
  }
}

Header read_header(const std::string& path, int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) bad_file(path, "cannot stat: ", std::strerror(errno));
  if (!S_ISREG(st.st_mode)) bad_file(path, "not a regular file");
  const auto file_size = static_cast<std::uint64_t>(st.st_size);
  if (file_size < 8)
    bad_file(path, "file too short (", file_size, " bytes): a safetensors file starts with an 8-byte header length");

  unsigned char len_bytes[8];
  if (!read_at(path, fd, len_bytes, 8, 0)) bad_file(path, "file ended while reading the header length");
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len_bytes[i];
  if (n > file_size - 8)
    bad_file(path, "header length ", n, " is larger than the file (", file_size, " bytes, so at most ", file_size - 8,
             " bytes of header)");
  if (n > kMaxHeaderBytes) bad_file(path, "header length ", n, " is over the ", kMaxHeaderBytes, "-byte limit");

  std::string text(static_cast<std::size_t>(n), '\0');
  if (!read_at(path, fd, text.data(), text.size(), 8)) bad_file(path, "file ended while reading the header");
  const nlohmann::json j = parse_json(path, text);
  if (!j.is_object()) bad_file(path, "header is JSON but not an object (it is ", j.type_name(), ")");

  Header h;
  h.data_start = 8 + n;
  h.data_size = file_size - h.data_start;
  for (const auto& item : j.items()) {
    const std::string& key = item.key();
    const auto& value = item.value();
    if (key == kMetadataKey) {
      if (value.is_null()) continue;  // the reference reader allows null for "no metadata"
      if (!value.is_object()) bad_file(path, "__metadata__ is ", value.type_name(), ", expected an object of strings");
      for (const auto& m : value.items()) {
        if (!m.value().is_string())
          bad_file(path, "__metadata__ value for key ", quoted(m.key()), " is ", m.value().type_name(),
                   ", expected a string (encode structured values as JSON text)");
        h.metadata.emplace(m.key(), m.value().get<std::string>());
      }
      continue;
    }
    h.entries.push_back(parse_entry(path, key, value, h.data_size));
  }

  // As in the reference implementation, the tensors must tile the data section exactly: no
  // overlap (two tensors sharing bytes), no holes and no trailing bytes (data no tensor owns).
  std::vector<const Entry*> order;
  for (const auto& e : h.entries) order.push_back(&e);
  std::stable_sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  std::uint64_t covered = 0;
  const Entry* prev = nullptr;
  for (const Entry* e : order) {
    if (e->begin < covered)
      bad_file(path, "tensors ", quoted(prev->name), " (data_offsets [", prev->begin, ", ", prev->end, "]) and ",
               quoted(e->name), " (data_offsets [", e->begin, ", ", e->end, "]) overlap");
    if (e->begin > covered)
      bad_file(path, "bytes [", covered, ", ", e->begin, ") of the data section belong to no tensor (a hole before ",
               quoted(e->name), ")");
    covered = e->end;
    prev = e;
  }
  if (covered != h.data_size)
    bad_file(path, "the data section holds ", h.data_size, " bytes but the tensors cover only ", covered,
             " (trailing bytes after the last tensor)");
  return h;
}

int open_for_read(const std::string& path) {
  // O_NONBLOCK: a FIFO must not block the open waiting for a writer; read_header's fstat then
  // refuses it (and any other file that is not regular). Reads of regular files never block.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) bad_file(path, "cannot open: ", std::strerror(errno));
  return fd;
}

}  // namespace

void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  // Metadata first, then the tensors in name order with their data laid out in the same order:
  // the layout the reference writer also produces for sorted names, and deterministic.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header[kMetadataKey] = std::move(meta);
  }
  std::uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name == kMetadataKey) save_failed(path, "a tensor cannot be named \"__metadata__\" (the format reserves it)");
    if (!t.defined()) save_failed(path, "tensor ", quoted(name), " is undefined");
    const std::uint64_t bytes = t.nbytes();
    header[name] = {{"dtype", dtype_code(t.dtype())},
                    {"shape", t.shape()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception&) {
    save_failed(path, "a tensor name or metadata string is not valid UTF-8");
  }
  // The reference writer pads the header with spaces so that the data starts 8-byte aligned.
  text.append((8 - text.size() % 8) % 8, ' ');
  unsigned char len_bytes[8];
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<unsigned char>(static_cast<std::uint64_t>(text.size()) >> (8 * i));

  // A checkpoint write: the crash-safety tests can stop it dead at chosen points (fault_injection.h).
  AtomicFile file(path, "save_safetensors", /*durable=*/true, AtomicFile::Faults::Checkpoint);
  file.write(len_bytes, sizeof len_bytes);
  file.write(text.data(), text.size());
  for (const auto& [name, t] : tensors) {
    if (t.nbytes() == 0) continue;
    const Tensor host = t.to(Device::cpu());  // one tensor at a time: memory stays bounded
    if constexpr (kHostBigEndian) {
      std::vector<char> buf(static_cast<const char*>(host.raw_data()),
                            static_cast<const char*>(host.raw_data()) + host.nbytes());
      reverse_elements(buf.data(), buf.size(), dtype_size(host.dtype()));
      file.write(buf.data(), buf.size());
    } else {
      file.write(host.raw_data(), host.nbytes());
    }
  }
  file.commit();
}

TensorFile load_safetensors(const std::string& path) {
  FileDescriptor fd(open_for_read(path));
  const Header h = read_header(path, fd.get());
  TensorFile out;
  out.metadata = h.metadata;
  for (const Entry& e : h.entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype);
    const std::size_t bytes = t.nbytes();
    if (bytes > 0) {
      if (!read_at(path, fd.get(), t.raw_data(), bytes, h.data_start + e.begin))
        bad_file(path, "file ended while reading tensor ", quoted(e.name), " (did it change while being read?)");
      if constexpr (kHostBigEndian) reverse_elements(static_cast<char*>(t.raw_data()), bytes, dtype_size(e.dtype));
    }
    out.tensors.emplace(e.name, std::move(t));
  }
  return out;
}

std::map<std::string, std::string> read_safetensors_metadata(const std::string& path) {
  FileDescriptor fd(open_for_read(path));
  return read_header(path, fd.get()).metadata;
}

}  // namespace minidl
