#include "minidl/data/xml.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "minidl/data/data_error.h"

namespace minidl::data {

const XmlElement* XmlElement::child(const std::string& child_name) const {
  for (const auto& c : children)
    if (c.name == child_name) return &c;
  return nullptr;
}

const XmlElement& XmlElement::require(const std::string& child_name, const std::string& where) const {
  const XmlElement* c = child(child_name);
  if (!c) throw_data_error(where, ":", line, ": <", name, "> has no <", child_name, "> element");
  return *c;
}

const std::string* XmlElement::attribute(const std::string& attr) const {
  for (const auto& [k, v] : attributes)
    if (k == attr) return &v;
  return nullptr;
}

namespace {

// Nesting deeper than this is refused: the parser recurses once per level, and no file of the
// kind we read nests more than a handful of levels.
constexpr int kMaxDepth = 256;

class Parser {
 public:
  Parser(const std::string& text, const std::string& name) : s_(text), name_(name) {}

  XmlElement document() {
    skip_misc();
    if (!starts_with("<")) fail("expected the root element");
    XmlElement root = element(0);
    skip_misc();
    if (pos_ < s_.size()) fail("text after the root element");
    return root;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { throw_data_error(name_, ":", line_, ": ", what); }

  bool starts_with(const char* p) const { return s_.compare(pos_, std::strlen(p), p) == 0; }
  void advance(std::size_t n) {
    for (std::size_t i = 0; i < n && pos_ < s_.size(); ++i)
      if (s_[pos_++] == '\n') ++line_;
  }
  // Moves past `end`, failing with `what` when it never comes.
  void skip_past(const char* end, const char* what) {
    const std::size_t at = s_.find(end, pos_);
    if (at == std::string::npos) fail(std::string("unterminated ") + what);
    advance(at + std::strlen(end) - pos_);
  }
  static bool space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
  void skip_space() {
    while (pos_ < s_.size() && space(s_[pos_])) advance(1);
  }
  // White space, comments and processing instructions (the <?xml ... ?> declaration).
  void skip_misc() {
    for (;;) {
      skip_space();
      if (starts_with("<!--"))
        skip_past("-->", "comment");
      else if (starts_with("<?"))
        skip_past("?>", "processing instruction");
      else if (starts_with("<!DOCTYPE") || starts_with("<!doctype"))
        fail("document type declarations are not supported");
      else
        return;
    }
  }
  static bool name_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == ':' ||
           static_cast<unsigned char>(c) >= 0x80;
  }
  std::string parse_name(const char* what) {
    const std::size_t start = pos_;
    while (pos_ < s_.size() && name_char(s_[pos_])) ++pos_;
    if (pos_ == start) fail(std::string("expected ") + what);
    return s_.substr(start, pos_ - start);
  }
  // Character data up to the next '<' (or, for an attribute, the closing quote), with entities.
  void append_text(std::string& out, char stop) {
    while (pos_ < s_.size() && s_[pos_] != stop) {
      if (stop != '<' && s_[pos_] == '<') fail("'<' inside an attribute value");
      if (s_[pos_] == '&') {
        static const std::pair<const char*, char> kEntities[] = {
            {"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&quot;", '"'}, {"&apos;", '\''}};
        bool known = false;
        for (const auto& [ent, ch] : kEntities)
          if (starts_with(ent)) {
            out += ch;
            advance(std::strlen(ent));
            known = true;
            break;
          }
        if (!known) fail("unknown entity (only &lt; &gt; &amp; &quot; &apos; are supported)");
      } else {
        out += s_[pos_];
        advance(1);
      }
    }
  }

  XmlElement element(int depth) {
    if (depth > kMaxDepth) fail("elements nested more than " + std::to_string(kMaxDepth) + " deep");
    XmlElement e;
    e.line = line_;
    advance(1);  // '<'
    e.name = parse_name("an element name");
    for (;;) {
      skip_space();
      if (pos_ >= s_.size()) fail("unterminated start tag <" + e.name + ">");
      if (starts_with("/>")) {
        advance(2);
        return e;
      }
      if (s_[pos_] == '>') {
        advance(1);
        break;
      }
      std::string key = parse_name("an attribute name");
      skip_space();
      if (pos_ >= s_.size() || s_[pos_] != '=') fail("expected '=' after attribute " + key);
      advance(1);
      skip_space();
      if (pos_ >= s_.size() || (s_[pos_] != '"' && s_[pos_] != '\'')) fail("expected a quoted value for " + key);
      const char quote = s_[pos_];
      advance(1);
      std::string value;
      append_text(value, quote);
      if (pos_ >= s_.size()) fail("unterminated value of attribute " + key);
      advance(1);
      e.attributes.emplace_back(std::move(key), std::move(value));
    }
    // Content: text, children, comments, CDATA, until the matching end tag.
    for (;;) {
      if (pos_ >= s_.size()) fail("<" + e.name + "> (line " + std::to_string(e.line) + ") is never closed");
      if (starts_with("</")) {
        advance(2);
        const std::string end = parse_name("an end tag name");
        if (end != e.name) fail("</" + end + "> closes <" + e.name + "> (opened at line " + std::to_string(e.line) + ")");
        skip_space();
        if (pos_ >= s_.size() || s_[pos_] != '>') fail("expected '>' after </" + end);
        advance(1);
        return e;
      }
      if (starts_with("<!--")) {
        skip_past("-->", "comment");
      } else if (starts_with("<![CDATA[")) {
        advance(9);
        const std::size_t at = s_.find("]]>", pos_);
        if (at == std::string::npos) fail("unterminated CDATA section");
        e.text.append(s_, pos_, at - pos_);
        advance(at + 3 - pos_);
      } else if (starts_with("<?")) {
        skip_past("?>", "processing instruction");
      } else if (starts_with("<!")) {
        fail("unsupported markup declaration inside <" + e.name + ">");
      } else if (s_[pos_] == '<') {
        e.children.push_back(element(depth + 1));
      } else {
        append_text(e.text, '<');
      }
    }
  }

  const std::string& s_;
  const std::string& name_;
  std::size_t pos_ = 0;
  int line_ = 1;
};

}  // namespace

XmlElement parse_xml(const std::string& text, const std::string& name) { return Parser(text, name).document(); }

XmlElement load_xml(const std::string& path) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below as not regular.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw_data_error(path, ": cannot open (", std::strerror(errno), ")");
  struct stat st {};
  std::string text;
  try {
    if (::fstat(fd, &st) != 0) throw_data_error(path, ": cannot stat (", std::strerror(errno), ")");
    if (!S_ISREG(st.st_mode)) throw_data_error(path, ": not a regular file");
    constexpr off_t kMax = off_t{256} << 20;
    if (st.st_size > kMax) throw_data_error(path, ": ", st.st_size, " bytes is larger than an XML file minidl reads");
    text.resize(static_cast<std::size_t>(st.st_size));
    std::size_t got = 0;
    while (got < text.size()) {
      const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw_data_error(path, ": read error (", std::strerror(errno), ")");
      if (n == 0) break;
      got += static_cast<std::size_t>(n);
    }
    text.resize(got);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  if (text.empty()) throw_data_error(path, ": empty file, expected XML");
  return parse_xml(text, path);
}

std::vector<double> xml_numbers(const XmlElement& e, const std::string& where) {
  std::vector<double> out;
  const char* p = e.text.c_str();
  for (;;) {
    while (*p && std::isspace(static_cast<unsigned char>(*p))) ++p;
    if (!*p) break;
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(p, &end);
    if (end == p || (*end && !std::isspace(static_cast<unsigned char>(*end))))
      throw_data_error(where, ":", e.line, ": <", e.name, "> holds '",
                       std::string(p, std::min<std::size_t>(std::strcspn(p, " \t\r\n"), 40)), "', expected numbers");
    if (!std::isfinite(v)) throw_data_error(where, ":", e.line, ": <", e.name, "> holds a non-finite number");
    out.push_back(v);
    p = end;
  }
  return out;
}

std::int64_t xml_int(const XmlElement& e, const std::string& where, std::int64_t lo, std::int64_t hi) {
  const auto v = xml_numbers(e, where);
  if (v.size() != 1 || v[0] != std::floor(v[0]) || v[0] < static_cast<double>(lo) || v[0] > static_cast<double>(hi))
    throw_data_error(where, ":", e.line, ": <", e.name, "> must be one integer from ", lo, " to ", hi, ", found '",
                     e.text.substr(0, 40), "'");
  return static_cast<std::int64_t>(v[0]);
}

}  // namespace minidl::data
