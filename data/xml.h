// A small XML reader: enough for OpenCV's FileStorage XML (cascade classifiers) and files
// like it. Elements, attributes, text, comments, the <?xml?> declaration, CDATA and the five
// predefined entities; no DTDs, namespaces or external entities (a <!DOCTYPE> is refused, so
// a file can never make the reader fetch or expand anything). Errors are DataErrors that name
// the file and the line.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace minidl::data {

struct XmlElement {
  std::string name;
  std::vector<std::pair<std::string, std::string>> attributes;
  std::string text;                   // the element's own character data, concatenated
  std::vector<XmlElement> children;
  int line = 0;                       // where the start tag is, for error messages

  // The first child of that name, or nullptr.
  const XmlElement* child(const std::string& child_name) const;
  // The first child of that name; throws a DataError naming `where` and the line when absent.
  const XmlElement& require(const std::string& child_name, const std::string& where) const;
  const std::string* attribute(const std::string& attr) const;
};

// Parses a whole document; returns its root element. `name` is what errors call the input.
XmlElement parse_xml(const std::string& text, const std::string& name);
// Reads and parses a regular file (at most 256 MiB).
XmlElement load_xml(const std::string& path);

// The white-space separated numbers of an element's text ("0 -1 3 -4.5e-02"), each checked to
// be a whole, finite number; errors name `where` and the element's line.
std::vector<double> xml_numbers(const XmlElement& e, const std::string& where);
// One integer (the whole text), checked to lie in [lo, hi].
std::int64_t xml_int(const XmlElement& e, const std::string& where, std::int64_t lo, std::int64_t hi);

}  // namespace minidl::data
