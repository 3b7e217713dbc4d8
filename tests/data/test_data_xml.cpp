// The XML reader behind the cascade loader: what it keeps, and what a malformed file gives
// (a DataError naming the file and the line, never a crash or a hang).
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include "minidl/data/xml.h"
#include "test_data_helpers.h"

using namespace minidl;
using namespace minidl::data;
using namespace minidl::data::testing;
using Catch::Matchers::Contains;

TEST_CASE("xml: elements, attributes, text, comments, CDATA and entities", "[data][xml]") {
  const std::string doc =
      "<?xml version=\"1.0\"?>\n"
      "<!-- a comment\n over two lines -->\n"
      "<root a=\"1\" b='two'>\n"
      "  <_>6 4 12 9 -1.</_>\n"
      "  <_ >&lt;&amp;&gt;&quot;&apos;</_>\n"
      "  <empty/>\n"
      "  <![CDATA[<not a tag>]]>\n"
      "  <nested><deeper>x</deeper><!-- c --></nested>\n"
      "</root>\n";
  const XmlElement root = parse_xml(doc, "doc.xml");
  CHECK(root.name == "root");
  CHECK(root.line == 4);
  REQUIRE(root.attribute("a"));
  CHECK(*root.attribute("a") == "1");
  CHECK(*root.attribute("b") == "two");
  CHECK(root.attribute("c") == nullptr);
  REQUIRE(root.children.size() == 4);
  CHECK(root.children[0].name == "_");
  CHECK(root.children[0].line == 5);
  CHECK(xml_numbers(root.children[0], "doc.xml") == std::vector<double>{6, 4, 12, 9, -1});
  CHECK(root.children[1].text == "<&>\"'");
  CHECK(root.children[2].name == "empty");
  CHECK(root.children[2].children.empty());
  CHECK_THAT(root.text, Contains("<not a tag>"));
  REQUIRE(root.child("nested"));
  CHECK(root.child("nested")->require("deeper", "doc.xml").text == "x");
  CHECK(root.child("missing") == nullptr);
  CHECK_THAT(data_error_of([&] { root.require("missing", "doc.xml"); }),
             Contains("doc.xml:4") && Contains("<missing>"));
}

TEST_CASE("xml: malformed documents are refused with the file and line", "[data][xml]") {
  struct Case {
    const char* text;
    const char* says;
    const char* line;
  };
  const Case cases[] = {
      {"<a>\n<b>\n</a>", "closes <b>", "f.xml:3"},
      {"<a>\n  <b>text", "never closed", "f.xml:2"},
      {"<a x=1></a>", "quoted value", "f.xml:1"},
      {"<a>&nbsp;</a>", "unknown entity", "f.xml:1"},
      {"<!DOCTYPE a [<!ENTITY e \"x\">]><a/>", "document type", "f.xml:1"},
      {"<a/>\n<b/>", "after the root", "f.xml:2"},
      {"<a><!-- never ends", "unterminated comment", "f.xml:1"},
      {"just text", "expected the root", "f.xml:1"},
      {"", "expected the root", "f.xml:1"},
      {"<a\n  b=\"1\"", "unterminated start tag", "f.xml:2"},
      {"<a><![CDATA[x</a>", "CDATA", "f.xml:1"},
  };
  for (const Case& c : cases) {
    INFO(c.text);
    CHECK_THAT(data_error_of([&] { parse_xml(c.text, "f.xml"); }), Contains(c.says) && Contains(c.line));
  }
  // Nesting is bounded (the parser recurses once per level).
  std::string deep;
  for (int i = 0; i < 300; ++i) deep += "<a>";
  CHECK_THAT(data_error_of([&] { parse_xml(deep, "deep.xml"); }), Contains("nested more than"));
}

TEST_CASE("xml: numbers and integers are checked", "[data][xml]") {
  const XmlElement e = parse_xml("<r>\n<n>1 2.5e-3\t-4\n</n><bad>1 x2 3</bad><i>7</i><f>7.5</f><big>99</big></r>", "n.xml");
  CHECK(xml_numbers(e.require("n", "n.xml"), "n.xml") == std::vector<double>{1, 2.5e-3, -4});
  CHECK_THAT(data_error_of([&] { xml_numbers(e.require("bad", "n.xml"), "n.xml"); }),
             Contains("n.xml:3") && Contains("'x2'") && Contains("expected numbers"));
  CHECK(xml_int(e.require("i", "n.xml"), "n.xml", 0, 10) == 7);
  CHECK_THAT(data_error_of([&] { xml_int(e.require("f", "n.xml"), "n.xml", 0, 10); }), Contains("one integer from 0 to 10"));
  CHECK_THAT(data_error_of([&] { xml_int(e.require("big", "n.xml"), "n.xml", 0, 10); }), Contains("'99'"));
  const XmlElement inf = parse_xml("<n>1e999</n>", "i.xml");
  CHECK_THAT(data_error_of([&] { xml_numbers(inf, "i.xml"); }), Contains("non-finite"));
}

TEST_CASE("xml: load_xml reads regular files only, and never waits on a FIFO", "[data][xml]") {
  TempDir dir("xml");
  write_file(dir / "ok.xml", "<a>1</a>");
  CHECK(load_xml(dir / "ok.xml").text == "1");
  CHECK_THAT(data_error_of([&] { load_xml(dir / "missing.xml"); }), Contains("missing.xml") && Contains("cannot open"));
  write_file(dir / "empty.xml", "");
  CHECK_THAT(data_error_of([&] { load_xml(dir / "empty.xml"); }), Contains("empty file"));
  CHECK_THAT(data_error_of([&] { load_xml(dir.str()); }), Contains("not a regular file"));
  REQUIRE(::mkfifo((dir / "fifo.xml").c_str(), 0600) == 0);
  CHECK_THAT(data_error_of([&] { load_xml(dir / "fifo.xml"); }), Contains("fifo.xml") && Contains("not a regular file"));
}
