// Names (file paths, class names) are carried as the bytes they are, and escaped only where a
// format needs it, so that a name that is not UTF-8 never fails an output after the work is
// done, and the exact bytes can be recovered from what was written.
#pragma once

#include <string>

namespace minidl::app {

// A CSV field (RFC 4180): as is, or in double quotes with quotes doubled when it holds a comma,
// a quote, a line break or leading/trailing space. Bytes are not changed.
std::string csv_field(const std::string& s);

// A JSON string literal, quotes included. Valid UTF-8 is kept as is (with \", \\ and control
// characters escaped); each byte that is not part of valid UTF-8 becomes \udcXX, the "surrogate
// escape" Python uses for such file names, so os.fsencode(json.loads(...)) gives the bytes back.
std::string json_string(const std::string& bytes);

}  // namespace minidl::app
