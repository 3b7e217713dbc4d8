// Names (file paths, class names) are carried as the bytes they are, and escaped only where a
// format needs it, so that a name that is not UTF-8 never fails an output after the work is
// done, and the exact bytes can be recovered from what was written.
#pragma once

#include <string>

namespace minidl::app {

// A CSV field (RFC 4180): as is, or in double quotes with quotes doubled when it holds a comma,
// a quote, a line break or leading/trailing space. Bytes are not changed.
std::string csv_field(const std::string& s);

// A JSON string literal, quotes included, that every JSON parser accepts: valid UTF-8 is kept
// (with \", \\ and control characters escaped), each byte that is not part of valid UTF-8
// becomes U+FFFD. `exact` is set false when that happened (the caller then also writes the bytes
// in hex, so nothing is lost).
std::string json_string(const std::string& bytes, bool* exact = nullptr);

// Lower-case hex of the bytes ("a\xff" -> "61ff").
std::string hex_bytes(const std::string& bytes);

}  // namespace minidl::app
