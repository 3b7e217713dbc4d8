#include "minidl/data/fer2013_csv.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "minidl/core/file_io.h"
#include "minidl/data/data_error.h"

namespace minidl::data {

namespace {

constexpr std::size_t kMaxSkippedMessages = 10;

// A row that is wrong; the caller adds the file and line.
struct RowError {
  std::string what;
};

std::string trim(const std::string& s) {
  std::size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// What to show of a bad field: the start of it, printable.
std::string excerpt(const std::string& s, std::size_t max_len = 40) {
  std::string out;
  for (char c : s.substr(0, max_len)) out += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
  if (s.size() > max_len) out += "...";
  return out;
}

// Splits one CSV line into fields; a field may be double-quoted ("" inside is a quote).
std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> fields;
  if (line.find('"') == std::string::npos) {  // the usual case, without a copy per character
    std::size_t start = 0;
    while (true) {
      const std::size_t comma = line.find(',', start);
      fields.push_back(line.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
      if (comma == std::string::npos) return fields;
      start = comma + 1;
    }
  }
  std::string cur;
  bool quoted = false, was_quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < line.size() && line[i + 1] == '"') {
          cur += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        cur += c;
      }
    } else if (c == '"' && trim(cur).empty() && !was_quoted) {
      quoted = was_quoted = true;
      cur.clear();
    } else if (c == ',') {
      fields.push_back(cur);
      cur.clear();
      was_quoted = false;
    } else {
      cur += c;
    }
  }
  if (quoted) throw RowError{"unterminated quoted field"};
  fields.push_back(cur);
  return fields;
}

std::int64_t parse_label(const std::string& field, std::int64_t num_classes) {
  const std::string t = trim(field);
  if (t.empty()) throw RowError{"emotion field is empty"};
  std::int64_t v = 0;
  const bool negative = t[0] == '-' && t.size() > 1 &&
                        std::all_of(t.begin() + 1, t.end(), [](unsigned char c) { return std::isdigit(c); });
  if (negative)
    throw RowError{"emotion " + excerpt(t) + " is outside the " + std::to_string(num_classes) + " classes 0.." +
                   std::to_string(num_classes - 1) + " (Angry..Neutral)"};
  for (char c : t) {
    if (!std::isdigit(static_cast<unsigned char>(c)))
      throw RowError{"emotion '" + excerpt(t) + "' is not an integer class index"};
    v = v * 10 + (c - '0');
    if (v > 1000000) break;
  }
  if (v >= num_classes)
    throw RowError{"emotion " + excerpt(t) + " is outside the " + std::to_string(num_classes) + " classes 0.." +
                   std::to_string(num_classes - 1) + " (Angry..Neutral)"};
  return v;
}

void parse_pixels(const std::string& field, std::int64_t side, std::uint8_t* out) {
  const std::int64_t expected = side * side;
  std::int64_t n = 0;
  const char* p = field.data();
  const char* end = p + field.size();
  while (true) {
    while (p < end && std::isspace(static_cast<unsigned char>(*p))) ++p;
    if (p == end) break;
    const char* start = p;
    int v = 0;
    bool ok = true;
    while (p < end && !std::isspace(static_cast<unsigned char>(*p))) {
      if (!std::isdigit(static_cast<unsigned char>(*p))) ok = false;
      if (ok) v = std::min(v * 10 + (*p - '0'), 100000);
      ++p;
    }
    const std::string token(start, p);
    const bool negative = token.size() > 1 && token[0] == '-' &&
                          std::all_of(token.begin() + 1, token.end(), [](unsigned char c) { return std::isdigit(c); });
    if (negative) throw RowError{"pixel value " + std::to_string(n + 1) + " '" + excerpt(token) + "' is not in 0..255"};
    if (!ok) throw RowError{"pixel value " + std::to_string(n + 1) + " '" + excerpt(token) + "' is not an integer"};
    if (v > 255) throw RowError{"pixel value " + std::to_string(n + 1) + " is " + excerpt(token) + ", not in 0..255"};
    if (n < expected) out[n] = static_cast<std::uint8_t>(v);
    ++n;
  }
  if (n != expected)
    throw RowError{"expected " + std::to_string(expected) + " pixel values (" + std::to_string(side) + "x" +
                   std::to_string(side) + "), found " + std::to_string(n)};
}

Fer2013Csv::Usage parse_usage(const std::string& field) {
  const std::string t = lower(trim(field));
  if (t == "training") return Fer2013Csv::Usage::Training;
  if (t == "publictest") return Fer2013Csv::Usage::PublicTest;
  if (t == "privatetest") return Fer2013Csv::Usage::PrivateTest;
  throw RowError{"Usage '" + excerpt(trim(field)) + "' is not Training, PublicTest or PrivateTest"};
}

}  // namespace

const char* Fer2013Csv::usage_name(Usage u) {
  switch (u) {
    case Usage::None: return "(none)";
    case Usage::Training: return "Training";
    case Usage::PublicTest: return "PublicTest";
    case Usage::PrivateTest: return "PrivateTest";
  }
  return "?";
}

Fer2013Csv::Fer2013Csv(const std::string& path, const Fer2013Options& options) : path_(path), options_(options) {
  if (options.side <= 0 || options.height <= 0 || options.width <= 0)
    throw_data_error(path, ": bad FER2013 options: side ", options.side, ", size ", options.height, "x",
                     options.width);
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw_data_error(path, ": is a folder, expected a FER2013 CSV file");
  // Read in one piece (the real file is 287 MB; a stringstream would hold it twice).
  std::string text = read_regular_file(path);
  if (text.size() >= 3 && text.compare(0, 3, "\xEF\xBB\xBF") == 0) text.erase(0, 3);  // UTF-8 BOM
  if (trim(text).empty()) throw_data_error(path, ": empty file; expected the header 'emotion,pixels,Usage' and rows");

  const std::int64_t num_classes = static_cast<std::int64_t>(fer_class_names().size());
  const std::int64_t npix = options.side * options.side;
  std::size_t pos = 0;
  std::int64_t line_no = 0;
  int col_emotion = -1, col_pixels = -1, col_usage = -1;
  std::size_t num_cols = 0;
  std::vector<std::uint8_t> row(static_cast<std::size_t>(npix));

  while (pos < text.size()) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string line = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();

    if (line_no == 1) {
      std::vector<std::string> names;
      try {
        names = split_csv(line);
      } catch (const RowError& e) {
        throw_data_error(path, ":1: bad header (", e.what, "); expected 'emotion,pixels,Usage'");
      }
      for (std::size_t c = 0; c < names.size(); ++c) {
        const std::string n = lower(trim(names[c]));
        int* slot = n == "emotion" ? &col_emotion : n == "pixels" ? &col_pixels : n == "usage" ? &col_usage : nullptr;
        if (!slot || *slot >= 0) {
          const bool looks_like_data = !trim(names[0]).empty() && std::isdigit(static_cast<unsigned char>(trim(names[0])[0]));
          throw_data_error(path, ":1: ", looks_like_data ? "no header" : "wrong header",
                           ": expected 'emotion,pixels,Usage' (or 'emotion,pixels'), found '", excerpt(line, 60), "'");
        }
        *slot = static_cast<int>(c);
      }
      if (col_emotion < 0 || col_pixels < 0)
        throw_data_error(path, ":1: wrong header: expected 'emotion,pixels,Usage' (or 'emotion,pixels'), found '",
                         excerpt(line, 60), "'");
      num_cols = names.size();
      has_usage_ = col_usage >= 0;
      continue;
    }
    if (trim(line).empty()) continue;  // blank lines (a trailing one above all) carry nothing

    try {
      const std::vector<std::string> fields = split_csv(line);
      if (fields.size() != num_cols)
        throw RowError{"expected " + std::to_string(num_cols) + " comma-separated fields, found " +
                       std::to_string(fields.size())};
      const std::int64_t label = parse_label(fields[col_emotion], num_classes);
      parse_pixels(fields[col_pixels], options.side, row.data());
      const Usage usage = has_usage_ ? parse_usage(fields[col_usage]) : Usage::None;
      pixels_.insert(pixels_.end(), row.begin(), row.end());
      labels_.push_back(label);
      usages_.push_back(usage);
    } catch (const RowError& e) {
      std::string msg = path + ":" + std::to_string(line_no) + ": " + e.what;
      if (!options.skip_bad_rows) throw DataError(msg);
      ++skipped_;
      if (skipped_messages_.size() < kMaxSkippedMessages) skipped_messages_.push_back(std::move(msg));
    }
  }
  if (labels_.empty()) {
    if (skipped_ > 0)
      throw_data_error(path, ": no usable rows (", skipped_, " bad rows skipped; first: ", skipped_messages_.front(),
                       ")");
    throw_data_error(path, ": no data rows after the header (empty data set)");
  }
}

Sample Fer2013Csv::get(std::int64_t i) const {
  check_index(i);
  const std::int64_t side = options_.side;
  GrayImage img(side, side);
  std::copy_n(pixels_.begin() + i * side * side, side * side, img.pixels.begin());
  Sample s;
  s.image = (side == options_.height && side == options_.width) ? std::move(img)
                                                               : resize(img, options_.height, options_.width);
  s.label = labels_[i];
  return s;
}

std::int64_t Fer2013Csv::label(std::int64_t i) const {
  check_index(i);
  return labels_[i];
}

Fer2013Csv::Usage Fer2013Csv::usage(std::int64_t i) const {
  check_index(i);
  return usages_[i];
}

std::vector<std::int64_t> Fer2013Csv::indices_with_usage(Usage usage) const {
  std::vector<std::int64_t> out;
  for (std::int64_t i = 0; i < size(); ++i)
    if (usages_[i] == usage) out.push_back(i);
  return out;
}

std::string Fer2013Csv::description() const {
  std::ostringstream os;
  os << "FER2013 CSV " << path_ << " (" << size() << " images " << options_.side << "x" << options_.side;
  if (options_.side != options_.height || options_.side != options_.width)
    os << " resized to " << options_.height << "x" << options_.width;
  if (skipped_) os << ", " << skipped_ << " bad rows skipped";
  os << ")";
  return os.str();
}

}  // namespace minidl::data
