// safetensors: bit-exact round trips, the exact bytes of the layout, a file built by hand from
// the specification, every kind of malformed file, robustness against mutated files, and the
// atomic write.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "minidl/core/device.h"
#include "minidl/core/safetensors.h"
#include "minidl/core/tensor.h"
#include "support.h"

using namespace minidl;

namespace {

using test::read_file;
using test::TempDir;
using test::write_file;

// The names in a folder (to see that no temporary file remains).
std::vector<std::string> files_in(const TempDir& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) names.push_back(e.path().filename().string());
  return names;
}

// The value's bytes, least significant first, built with shifts so that the test does not
// depend on the host's byte order.
std::string le_bytes(std::uint64_t v, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}
std::string le_f32(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return le_bytes(u, 4);
}
std::string le_f64(double d) {
  std::uint64_t u;
  std::memcpy(&u, &d, 8);
  return le_bytes(u, 8);
}

// A whole file: header length, header, data. No padding unless the caller adds it.
std::string file_bytes(const std::string& header, const std::string& data = "") {
  return le_bytes(header.size(), 8) + header + data;
}

template <typename T>
bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  const auto va = a.to_vector<T>();
  const auto vb = b.to_vector<T>();
  return va.size() == vb.size() && (va.empty() || std::memcmp(va.data(), vb.data(), va.size() * sizeof(T)) == 0);
}

bool same_bits(const Tensor& a, const Tensor& b) {
  switch (a.dtype()) {
    case DType::Float32: return same_bits<float>(a, b);
    case DType::Float64: return same_bits<double>(a, b);
    case DType::Int64: return same_bits<std::int64_t>(a, b);
  }
  return false;
}

// The message of the DataError that loading path throws; fails the test on anything else.
std::string load_error(const std::string& path) {
  try {
    load_safetensors(path);
  } catch (const DataError& e) {
    return e.what();
  } catch (const std::exception& e) {
    FAIL("expected minidl::DataError, got another exception: " << e.what());
  } catch (...) {
    FAIL("expected minidl::DataError, got a non-std exception");
  }
  FAIL("expected minidl::DataError loading " << path << ", but it loaded");
  return {};
}

// Writes bytes to a file and checks that loading it (and reading its metadata) fails with a
// DataError that names the file and contains every one of the expected pieces.
void expect_bad(const TempDir& dir, const std::string& bytes, const std::vector<std::string>& pieces) {
  const std::string path = dir / "bad.safetensors";
  write_file(path, bytes);
  const std::string msg = load_error(path);
  INFO("message: " << msg);
  CHECK_THAT(msg, Catch::Contains(path));
  for (const auto& p : pieces) CHECK_THAT(msg, Catch::Contains(p));
  CHECK_THROWS_AS(read_safetensors_metadata(path), DataError);
}

const std::string kF32x2 = R"("dtype":"F32","shape":[2])";

}  // namespace

TEST_CASE("safetensors: round trip is bit-exact for F32, F64 and I64, scalars and empty tensors",
          "[safetensors]") {
  TempDir dir("safetensors");
  const float f_nan = std::numeric_limits<float>::quiet_NaN();
  const double d_nan = std::numeric_limits<double>::quiet_NaN();
  std::map<std::string, Tensor> t;
  t["f32"] = Tensor::from_vector<float>({1.5f, -0.0f, f_nan, std::numeric_limits<float>::infinity(),
                                         std::numeric_limits<float>::denorm_min(), -3.25e38f},
                                        {2, 3});
  t["f64"] = Tensor::from_vector<double>({0.1, -0.0, d_nan, -std::numeric_limits<double>::infinity(),
                                          std::numeric_limits<double>::denorm_min(), 1e308},
                                         {3, 1, 2});
  t["i64"] = Tensor::from_vector<std::int64_t>(
      {std::numeric_limits<std::int64_t>::min(), -1, 0, 1, std::numeric_limits<std::int64_t>::max(), 0x0102030405060708},
      {6});
  t["scalar.f32"] = Tensor::scalar(2.5, DType::Float32);
  t["scalar.f64"] = Tensor::scalar(-7.0, DType::Float64);
  t["scalar.i64"] = Tensor::scalar(42, DType::Int64);
  t["empty.f32"] = Tensor::empty({0}, DType::Float32);
  t["empty.f64"] = Tensor::empty({3, 0, 2}, DType::Float64);
  t["empty.i64"] = Tensor::empty({0, 5}, DType::Int64);
  {
    // A payload NaN: the bits must survive, not just "some NaN".
    std::uint32_t bits = 0x7fc12345;
    float f;
    std::memcpy(&f, &bits, 4);
    t["payload_nan"] = Tensor::from_vector<float>({f});
  }
  // A view into the middle of a larger storage (narrow0 gives a nonzero offset).
  t["view"] = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {3, 2}).narrow0(1, 2);

  const std::string path = dir / "round.safetensors";
  save_safetensors(path, t);
  const TensorFile f = load_safetensors(path);
  REQUIRE(f.tensors.size() == t.size());
  CHECK(f.metadata.empty());
  for (const auto& [name, orig] : t) {
    INFO(name);
    REQUIRE(f.tensors.count(name) == 1);
    const Tensor& got = f.tensors.at(name);
    CHECK(got.device() == Device::cpu());
    CHECK_FALSE(got.requires_grad());
    CHECK(got.dtype() == orig.dtype());
    CHECK(got.shape() == orig.shape());
    CHECK(same_bits(got, orig));
  }
  CHECK(f.tensors.at("scalar.i64").shape().empty());
  CHECK(f.tensors.at("view").to_vector<float>() == std::vector<float>{3, 4, 5, 6});
}

TEST_CASE("safetensors: metadata round trip, alone and with tensors", "[safetensors]") {
  TempDir dir("safetensors");
  const std::map<std::string, std::string> meta = {
      {"minidl.class_names", R"(["Angry","Disgust","Fear","Happy","Sad","Surprise","Neutral"])"},
      {"minidl.input_size", "[1,64,64]"},
      {"empty", ""},
      {"unicode \xc3\xa9\xe2\x82\xac", "line\nbreak \"quoted\" \\ tab\t \xf0\x9f\x99\x82"},
      {"", "empty key"},
  };
  const std::string path = dir / "meta.safetensors";
  save_safetensors(path, {{"w", Tensor::ones({2, 2})}}, meta);
  CHECK(read_safetensors_metadata(path) == meta);
  const TensorFile f = load_safetensors(path);
  CHECK(f.metadata == meta);
  CHECK(f.tensors.size() == 1);

  // Metadata only, no tensors: a valid file with an empty data section.
  save_safetensors(path, {}, meta);
  const TensorFile g = load_safetensors(path);
  CHECK(g.tensors.empty());
  CHECK(g.metadata == meta);

  // Nothing at all.
  save_safetensors(path, {});
  CHECK(load_safetensors(path).tensors.empty());
  CHECK(read_safetensors_metadata(path).empty());
}

TEST_CASE("safetensors: the writer produces exactly the specified bytes", "[safetensors]") {
  TempDir dir("safetensors");
  const std::string path = dir / "layout.safetensors";
  save_safetensors(path,
                   {{"b", Tensor::scalar(-2, DType::Int64)}, {"a", Tensor::from_vector<float>({1.0f, -0.5f})},
                    {"c", Tensor::empty({0, 3}, DType::Float64)}},
                   {{"k", "v"}});
  // Metadata first, then tensors in name order, their data in that order with no gaps; the
  // header padded with spaces to a multiple of 8 bytes.
  std::string header =
      R"({"__metadata__":{"k":"v"},)"
      R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"I64","shape":[],"data_offsets":[8,16]},)"
      R"("c":{"dtype":"F64","shape":[0,3],"data_offsets":[16,16]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  const std::string expected = le_bytes(header.size(), 8) + header + le_f32(1.0f) + le_f32(-0.5f) +
                               le_bytes(static_cast<std::uint64_t>(std::int64_t{-2}), 8);
  const std::string got = read_file(path);
  CHECK(got.size() == expected.size());
  CHECK(got == expected);
  CHECK(header.size() % 8 == 0);

  // Deterministic: the same contents give the same bytes.
  const std::string path2 = dir / "layout2.safetensors";
  save_safetensors(path2,
                   {{"c", Tensor::empty({0, 3}, DType::Float64)}, {"a", Tensor::from_vector<float>({1.0f, -0.5f})},
                    {"b", Tensor::scalar(-2, DType::Int64)}},
                   {{"k", "v"}});
  CHECK(read_file(path2) == got);
}

TEST_CASE("safetensors: a file written by hand from the specification loads", "[safetensors]") {
  TempDir dir("safetensors");
  // As another writer might produce it: whitespace in the JSON, keys in no particular order,
  // data not in name order, a header length that is not a multiple of 8, a zero-size tensor
  // between two others, null metadata values absent.
  const std::string header =
      "{ \"z.i64\" : {\"data_offsets\": [0, 16], \"shape\": [2], \"dtype\": \"I64\"},\n"
      "  \"__metadata__\": {\"format\": \"pt\"},\n"
      "  \"nothing\": {\"dtype\": \"F32\", \"shape\": [2, 0], \"data_offsets\": [16, 16]},\n"
      "  \"a.f64\": {\"dtype\": \"F64\", \"shape\": [], \"data_offsets\": [16, 24]},\n"
      "  \"m.f32\": {\"dtype\": \"F32\", \"shape\": [1, 3], \"data_offsets\": [24, 36]} }";
  REQUIRE(header.size() % 8 != 0);
  const std::string data = le_bytes(static_cast<std::uint64_t>(std::int64_t{-5}), 8) + le_bytes(1234567890123ULL, 8) +
                           le_f64(3.141592653589793) + le_f32(0.25f) + le_f32(-1e-3f) + le_f32(7.0f);
  const std::string path = dir / "by_hand.safetensors";
  write_file(path, file_bytes(header, data));

  const TensorFile f = load_safetensors(path);
  REQUIRE(f.tensors.size() == 4);
  CHECK(f.metadata == std::map<std::string, std::string>{{"format", "pt"}});
  const Tensor& z = f.tensors.at("z.i64");
  CHECK(z.dtype() == DType::Int64);
  CHECK(z.shape() == Shape{2});
  CHECK(z.to_vector<std::int64_t>() == std::vector<std::int64_t>{-5, 1234567890123});
  const Tensor& a = f.tensors.at("a.f64");
  CHECK(a.dtype() == DType::Float64);
  CHECK(a.shape().empty());
  CHECK(a.to_vector<double>() == std::vector<double>{3.141592653589793});
  const Tensor& m = f.tensors.at("m.f32");
  CHECK(m.shape() == Shape{1, 3});
  CHECK(m.to_vector<float>() == std::vector<float>{0.25f, -1e-3f, 7.0f});
  CHECK(f.tensors.at("nothing").shape() == Shape{2, 0});
  CHECK(f.tensors.at("nothing").numel() == 0);

  // "__metadata__": null is what the reference writer's reader accepts for "none".
  write_file(path, file_bytes(R"({"__metadata__":null,"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                              le_f32(1.0f)));
  CHECK(load_safetensors(path).metadata.empty());
  CHECK(load_safetensors(path).tensors.at("x").to_vector<float>() == std::vector<float>{1.0f});
}

TEST_CASE("safetensors: malformed files give a DataError naming the file and the problem", "[safetensors]") {
  TempDir dir("safetensors");
  const std::string data8 = le_f32(1.0f) + le_f32(2.0f);

  SECTION("the file itself") {
    const std::string missing = dir / "missing.safetensors";
    CHECK_THAT(load_error(missing), Catch::Contains("cannot open") && Catch::Contains(missing));
    CHECK_THROWS_AS(read_safetensors_metadata(missing), DataError);
    CHECK_THAT(load_error(dir.str()), Catch::Contains("not a regular file"));
  }
  SECTION("too short") {
    expect_bad(dir, "", {"too short", "0 bytes"});
    expect_bad(dir, std::string("\x08\x00\x00\x00\x00\x00\x00", 7), {"too short", "7 bytes"});
  }
  SECTION("header length larger than the file") {
    expect_bad(dir, le_bytes(100, 8) + "{}", {"header length 100", "larger than the file"});
    expect_bad(dir, le_bytes(~0ULL, 8) + "{}", {"header length 18446744073709551615", "larger than the file"});
    expect_bad(dir, le_bytes(3, 8), {"header length 3", "larger than the file"});
  }
  SECTION("header not JSON") {
    expect_bad(dir, file_bytes(""), {"not valid JSON"});
    expect_bad(dir, file_bytes("{not json}"), {"not valid JSON"});
    expect_bad(dir, file_bytes(R"({"a":{"dtype":"F32")"), {"not valid JSON"});
    expect_bad(dir, file_bytes("{} trailing"), {"not valid JSON"});
    expect_bad(dir, file_bytes(std::string("{\"a\0\":1}", 8)), {"not valid JSON"});
    expect_bad(dir, file_bytes("{\"\xff\xfe\":{}}"), {"not valid JSON"});      // not UTF-8
    expect_bad(dir, file_bytes("{/* c */}"), {"not valid JSON"});              // no comments
  }
  SECTION("header JSON but not an object") {
    expect_bad(dir, file_bytes("[1,2]"), {"not an object", "array"});
    expect_bad(dir, file_bytes("\"x\""), {"not an object", "string"});
    expect_bad(dir, file_bytes("null"), {"not an object"});
  }
  SECTION("duplicate keys and deep nesting") {
    expect_bad(dir,
               file_bytes(R"({"a":{)" + kF32x2 + R"(,"data_offsets":[0,8]},"a":{)" + kF32x2 +
                              R"(,"data_offsets":[0,8]}})",
                          data8),
               {"'a' twice"});
    expect_bad(dir, file_bytes(R"({"a":{"dtype":"F32","dtype":"F64","shape":[],"data_offsets":[0,4]}})", le_f32(1)),
               {"'dtype' twice"});
    expect_bad(dir, file_bytes(R"({"a":[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]})"), {"nests deeper"});
    expect_bad(dir, file_bytes(std::string(100000, '[') + std::string(100000, ']')), {"nests deeper"});
  }
  SECTION("tensor entry not an object, missing or unknown fields") {
    expect_bad(dir, file_bytes(R"({"w":[1,2]})"), {"tensor 'w'", "expected an object"});
    expect_bad(dir, file_bytes(R"({"w":{"shape":[2],"data_offsets":[0,8]}})", data8), {"tensor 'w'", "no \"dtype\""});
    expect_bad(dir, file_bytes(R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", data8), {"tensor 'w'", "no \"shape\""});
    expect_bad(dir, file_bytes(R"({"w":{)" + kF32x2 + "}}", data8), {"tensor 'w'", "no \"data_offsets\""});
    expect_bad(dir, file_bytes(R"({"w":{)" + kF32x2 + R"(,"data_offsets":[0,8],"stride":[1]}})", data8),
               {"tensor 'w'", "unknown field 'stride'"});
  }
  SECTION("unsupported and unknown dtypes") {
    expect_bad(dir, file_bytes(R"({"w":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}})", le_bytes(0, 4)),
               {"tensor 'w'", "BF16", "not support"});
    expect_bad(dir, file_bytes(R"({"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", le_bytes(0, 4)),
               {"F16", "not support"});
    expect_bad(dir, file_bytes(R"({"w":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}})", data8),
               {"I32", "not support"});
    expect_bad(dir, file_bytes(R"({"w":{"dtype":"float32","shape":[2],"data_offsets":[0,8]}})", data8),
               {"unknown dtype 'float32'"});
    expect_bad(dir, file_bytes(R"({"w":{"dtype":32,"shape":[2],"data_offsets":[0,8]}})", data8),
               {"tensor 'w'", "dtype is '32'"});
  }
  SECTION("shape not a list of non-negative integers") {
    const auto bad_shape = [&](const std::string& shape, const std::vector<std::string>& pieces) {
      expect_bad(dir, file_bytes(R"({"w":{"dtype":"F32","shape":)" + shape + R"(,"data_offsets":[0,8]}})", data8),
                 pieces);
    };
    bad_shape("2", {"tensor 'w'", "shape is '2'", "list of non-negative integers"});
    bad_shape("[-2]", {"shape '[-2]'", "not a list of non-negative integers", "dimension 0"});
    bad_shape("[1,2.0]", {"shape '[1,2.0]'", "dimension 1"});
    bad_shape(R"([1,"2"])", {"not a list of non-negative integers"});
    bad_shape("[[2]]", {"not a list of non-negative integers"});
    bad_shape("[true]", {"not a list of non-negative integers"});
    bad_shape("[9223372036854775808]", {"not a list of non-negative integers"});   // 2^63
    bad_shape("[18446744073709551616]", {"not a list of non-negative integers"});  // 2^64, parsed as a float
    bad_shape("[4294967296,4294967296]", {"more elements than fit in 64 bits"});
    bad_shape("[4294967296,4294967296,0]", {"more elements than fit in 64 bits"});
    bad_shape("[2305843009213693952]", {"data_offsets [0, 8]", "9223372036854775808"});  // 2^61 * 4 bytes
    bad_shape("[3]", {"data_offsets [0, 8] hold 8 bytes", "F32 shape [3] needs 12"});
  }
  SECTION("data_offsets malformed, out of range or not matching the shape") {
    const auto bad_offsets = [&](const std::string& offsets, const std::vector<std::string>& pieces) {
      expect_bad(dir, file_bytes(R"({"w":{)" + kF32x2 + R"(,"data_offsets":)" + offsets + "}}", data8), pieces);
    };
    bad_offsets("8", {"tensor 'w'", "data_offsets is '8'", "expected [begin, end]"});
    bad_offsets("[0]", {"expected [begin, end]"});
    bad_offsets("[0,4,8]", {"expected [begin, end]"});
    bad_offsets("[-8,0]", {"expected [begin, end]"});
    bad_offsets("[0,8.5]", {"expected [begin, end]"});
    bad_offsets("[8,0]", {"data_offsets [8, 0] end before they begin"});
    bad_offsets("[0,16]", {"data_offsets [0, 16] are out of range", "holds 8 bytes"});
    bad_offsets("[18446744073709551615,18446744073709551615]", {"out of range"});
    bad_offsets("[0,4]", {"hold 4 bytes", "needs 8"});
  }
  SECTION("overlap, holes and trailing bytes") {
    const std::string two = R"({"a":{)" + kF32x2 + R"(,"data_offsets":[0,8]},"b":{)" + kF32x2 + R"(,"data_offsets":)";
    expect_bad(dir, file_bytes(two + "[4,12]}}", data8 + data8), {"'a' (data_offsets [0, 8])", "'b'", "overlap"});
    expect_bad(dir, file_bytes(two + "[0,8]}}", data8), {"'a'", "'b'", "overlap"});
    expect_bad(dir, file_bytes(two + "[12,20]}}", data8 + data8 + "1234"), {"bytes [8, 12)", "no tensor", "'b'"});
    expect_bad(dir,
               file_bytes(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},"b":{)" + kF32x2 +
                              R"(,"data_offsets":[0,8]}})",
                          data8),
               {"'b'", "'a'", "overlap"});  // a zero-size tensor inside another
    expect_bad(dir, file_bytes(R"({"a":{)" + kF32x2 + R"(,"data_offsets":[0,8]}})", data8 + "xy"),
               {"holds 10 bytes", "cover only 8", "trailing"});
    expect_bad(dir, file_bytes("{}", "x"), {"holds 1 bytes", "cover only 0"});
  }
  SECTION("metadata not an object of strings") {
    expect_bad(dir, file_bytes(R"({"__metadata__":["a"]})"), {"__metadata__ is array", "object of strings"});
    expect_bad(dir, file_bytes(R"({"__metadata__":{"epoch":3}})"), {"__metadata__ value for key 'epoch'", "number",
                                                                    "expected a string"});
    expect_bad(dir, file_bytes(R"({"__metadata__":{"n":null}})"), {"key 'n'", "null"});
    expect_bad(dir, file_bytes(R"({"__metadata__":{"o":{"x":"y"}}})"), {"key 'o'", "object"});
  }
  SECTION("names with control bytes are escaped in messages") {
    expect_bad(dir, file_bytes(R"({"bad\nname":1})"), {"tensor 'bad\\x0aname'"});
  }
}

TEST_CASE("safetensors: truncated and mutated files never crash, only throw DataError", "[safetensors]") {
  TempDir dir("safetensors");
  const std::string good_path = dir / "good.safetensors";
  save_safetensors(good_path,
                   {{"conv.weight", Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3})},
                    {"bn.num_batches_tracked", Tensor::scalar(7, DType::Int64)},
                    {"x", Tensor::from_vector<double>({0.5, 0.25})},
                    {"e", Tensor::empty({0}, DType::Float32)}},
                   {{"minidl.input_size", "[1,28,28]"}});
  const std::string good = read_file(good_path);
  const std::string path = dir / "mutant.safetensors";

  const auto load_ok_or_data_error = [&](const std::string& bytes) {
    write_file(path, bytes);
    try {
      const TensorFile f = load_safetensors(path);
      for (const auto& kv : f.tensors) REQUIRE(kv.second.nbytes() <= bytes.size());
      return true;
    } catch (const DataError&) {
      return false;
    }
  };

  int loaded = 0;
  for (std::size_t n = 0; n < good.size(); ++n) loaded += load_ok_or_data_error(good.substr(0, n));
  CHECK(loaded == 0);  // every truncation is detected

  std::mt19937 rng(1234);
  const std::string interesting = "{}[]\",:0123456789-.eE \x00\xff";
  for (int iter = 0; iter < 3000; ++iter) {
    std::string bytes = good;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < edits; ++k) {
      const std::size_t pos = rng() % bytes.size();
      switch (rng() % 4) {
        case 0: bytes[pos] = static_cast<char>(rng()); break;
        case 1: bytes[pos] = interesting[rng() % interesting.size()]; break;
        case 2: bytes.erase(pos, 1 + rng() % 8); break;
        default: bytes.insert(pos, 1, interesting[rng() % interesting.size()]); break;
      }
      if (bytes.empty()) bytes = "x";
    }
    load_ok_or_data_error(bytes);
  }
}

TEST_CASE("safetensors: writes are atomic and failures are clear", "[safetensors]") {
  TempDir dir("safetensors");
  const std::string path = dir / "ckpt.safetensors";
  const auto tensors_a = std::map<std::string, Tensor>{{"w", Tensor::full({4}, 1.0)}};
  const auto tensors_b = std::map<std::string, Tensor>{{"w", Tensor::full({8}, 2.0)}, {"b", Tensor::zeros({2})}};

  save_safetensors(path, tensors_a);
  CHECK(files_in(dir) == std::vector<std::string>{"ckpt.safetensors"});  // no temporary file remains
  save_safetensors(path, tensors_b, {{"epoch", "2"}});                 // replaces the old file
  CHECK(files_in(dir) == std::vector<std::string>{"ckpt.safetensors"});
  const TensorFile f = load_safetensors(path);
  CHECK(f.tensors.size() == 2);
  CHECK(f.tensors.at("w").to_vector<float>() == std::vector<float>(8, 2.0f));
  CHECK(f.metadata.at("epoch") == "2");

  SECTION("a directory that does not exist") {
    const std::string nowhere = dir / "no/such/dir/ckpt.safetensors";
    try {
      save_safetensors(nowhere, tensors_a);
      FAIL("saving into a missing directory succeeded");
    } catch (const Error& e) {
      CHECK_THAT(e.what(), Catch::Contains(nowhere) && Catch::Contains("does not exist") &&
                               Catch::Contains(dir / "no/such/dir"));
    }
    CHECK(files_in(dir) == std::vector<std::string>{"ckpt.safetensors"});
  }
  SECTION("a failure after the temporary file was written leaves the old state and no temporary file") {
    // The target is a directory: the data is written, the rename fails.
    const std::string sub = dir / "subdir";
    REQUIRE(::mkdir(sub.c_str(), 0755) == 0);
    CHECK_THROWS_WITH(save_safetensors(sub, tensors_a), Catch::Contains(sub) && Catch::Contains("renaming"));
    struct stat st {};
    REQUIRE(::stat(sub.c_str(), &st) == 0);
    CHECK(S_ISDIR(st.st_mode));
    CHECK(files_in(dir).size() == 2);  // ckpt.safetensors and subdir, no *.tmp.*
    ::rmdir(sub.c_str());
  }
  SECTION("invalid contents are refused before anything is written") {
    CHECK_THROWS_WITH(save_safetensors(path, {{"__metadata__", Tensor::zeros({1})}}),
                      Catch::Contains("__metadata__") && Catch::Contains("reserve"));
    CHECK_THROWS_WITH(save_safetensors(path, {{"w", Tensor()}}), Catch::Contains("'w' is undefined"));
    CHECK_THROWS_WITH(save_safetensors(path, {{"bad\xff", Tensor::zeros({1})}}), Catch::Contains("UTF-8"));
    CHECK_THROWS_WITH(save_safetensors(path, {}, {{"k", "bad\xff"}}), Catch::Contains("UTF-8"));
    CHECK(files_in(dir) == std::vector<std::string>{"ckpt.safetensors"});
    CHECK(load_safetensors(path).tensors.at("w").numel() == 8);  // the old file is untouched
  }
}

TEST_CASE("safetensors: GPU tensors are saved from the host copy", "[safetensors][cuda]") {
  if (minidl::test::no_gpu()) return;
  TempDir dir("safetensors");
  const std::string path = dir / "gpu.safetensors";
  const Tensor f = Tensor::from_vector<float>({1.0f, -2.0f, 3.5f}, {3});
  const Tensor d = Tensor::from_vector<double>({0.1, 0.2}, {1, 2});
  save_safetensors(path, {{"f", f.to(Device::cuda())}, {"d", d.to(Device::cuda())}});
  const TensorFile got = load_safetensors(path);
  CHECK(same_bits(got.tensors.at("f"), f));
  CHECK(same_bits(got.tensors.at("d"), d));
  CHECK(got.tensors.at("f").device() == Device::cpu());
}
