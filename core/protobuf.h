// Protocol Buffers wire format, write side only: enough to emit a message whose schema the
// caller knows (ONNX's ModelProto) without libprotobuf. A message is built into a byte
// string; a nested message is a length-delimited field holding another writer's bytes.
// Repeated scalars are written one field each (proto2's unpacked default, which every
// parser accepts). Reference: https://protobuf.dev/programming-guides/encoding/
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

namespace minidl::protobuf {

class Writer {
 public:
  // int32/int64/uint64/enum/bool fields (wire type 0). Negative values take 10 bytes, as
  // protobuf encodes them (two's complement, sign-extended to 64 bits).
  Writer& varint(int field, std::int64_t v) {
    key(field, 0);
    put_varint(static_cast<std::uint64_t>(v));
    return *this;
  }
  // float fields (wire type 5, little-endian IEEE-754).
  Writer& fixed32(int field, float v) {
    key(field, 5);
    std::uint32_t u;
    std::memcpy(&u, &v, 4);
    for (int i = 0; i < 4; ++i) out_.push_back(static_cast<char>((u >> (8 * i)) & 0xFF));
    return *this;
  }
  // string, bytes and embedded-message fields (wire type 2).
  Writer& bytes(int field, const void* data, std::size_t size) {
    key(field, 2);
    put_varint(size);
    out_.append(static_cast<const char*>(data), size);
    return *this;
  }
  Writer& bytes(int field, const std::string& s) { return bytes(field, s.data(), s.size()); }
  Writer& message(int field, const Writer& m) { return bytes(field, m.out_); }

  const std::string& str() const { return out_; }

 private:
  void key(int field, int wire_type) { put_varint((static_cast<std::uint64_t>(field) << 3) | static_cast<unsigned>(wire_type)); }
  void put_varint(std::uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7F) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  std::string out_;
};

}  // namespace minidl::protobuf
