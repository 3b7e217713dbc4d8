// Names (class folders, file paths) are bytes: a folder named with a Latin-1 0xE9 is as good a
// class as any. They are carried as bytes everywhere and escaped only where a format needs it:
// JSON strings must be UTF-8, a CSV field may not hold a bare comma or quote, a terminal or an
// SVG label wants printable text.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace minidl::app {

// Whether s is well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
bool is_utf8(const std::string& s);

// s for people: well-formed UTF-8 kept as it is, other bytes and control characters as \xHH.
std::string printable(const std::string& s);

// "Angry, Disgust, Fear": names joined for a message, each printable.
std::string printable_list(const std::vector<std::string>& names);

// A name as a JSON value that gives back the same bytes: a string when s is UTF-8, else the
// array of its byte values ([90, 233, 98]).
nlohmann::json bytes_to_json(const std::string& s);
// The inverse; throws minidl::Error naming `what` for anything else.
std::string bytes_from_json(const nlohmann::json& j, const std::string& what);

// s as one CSV field (RFC 4180): as is, or in double quotes with quotes doubled when it holds a
// comma, a quote, a line break or leading/trailing space. Bytes are not changed.
std::string csv_field(const std::string& s);

// A JSON string literal, quotes included, that every JSON parser accepts: valid UTF-8 is kept
// (with \", \\ and control characters escaped), each byte that is not part of valid UTF-8
// becomes U+FFFD. `exact` is set false when that happened (the caller then also writes the bytes
// in hex, so nothing is lost).
std::string json_string(const std::string& bytes, bool* exact = nullptr);

// Lower-case hex of the bytes ("a\xff" -> "61ff").
std::string hex_bytes(const std::string& bytes);

}  // namespace minidl::app
