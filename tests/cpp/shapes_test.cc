// The shape-file parser of bench/ (bench/shapes.h), and the shipped shape files.
#include "shapes.h"

#include <gtest/gtest.h>

#include <sstream>
#include <stdexcept>
#include <string>

namespace {

using pybench::bench::load_shapes;
using pybench::bench::parse_shapes;

std::string parse_error(const std::string& text) {
  std::istringstream in(text);
  try {
    parse_shapes(in, "test.txt");
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

TEST(Shapes, ParsesCasesCommentsAndBlankLines) {
  std::istringstream in(
      "# header\n"
      "\n"
      "vgg19:conv1_1 N=1 C=64 H=400 W=400\n"
      "  vgg19:conv1_1\tN=4 C=64 H=400 W=400   # trailing comment\n"
      "tiny L=0 C=1\r\n");
  const auto cases = parse_shapes(in, "in.txt");
  ASSERT_EQ(cases.size(), 3u);
  EXPECT_EQ(cases[0].name, "vgg19:conv1_1");
  EXPECT_EQ(cases[0].get("N"), 1);
  EXPECT_EQ(cases[0].get("H"), 400);
  EXPECT_EQ(cases[0].source, "in.txt:3");
  EXPECT_EQ(cases[1].name, "vgg19:conv1_1");
  EXPECT_EQ(cases[1].get("N"), 4);
  EXPECT_EQ(cases[1].get("W"), 400);
  EXPECT_EQ(cases[2].get("C"), 1);  // CRLF line ending
  EXPECT_EQ(cases[2].get("L"), 0);
  EXPECT_EQ(cases[2].get("N", 1), 1);
  EXPECT_THROW(cases[2].get("N"), std::runtime_error);
}

TEST(Shapes, RejectsMalformedLinesWithFileAndLine) {
  struct Bad {
    const char* text;
    const char* problem;
  };
  for (const Bad& bad : {Bad{"N=1 C=3", "expected a case name first"},
                         Bad{"name N=1 C", "expected key=value"},
                         Bad{"name =3", "empty key"},
                         Bad{"name N=", "not a non-negative integer"},
                         Bad{"name N=-1", "not a non-negative integer"},
                         Bad{"name N=1.5", "not a non-negative integer"},
                         Bad{"name N=4x", "not a non-negative integer"},
                         Bad{"name N=99999999999999999999", "not a non-negative integer"},
                         Bad{"name N=1 N=2", "repeated"},
                         Bad{"name", "has no key=value sizes"}}) {
    const std::string msg = parse_error(std::string("# ok\n") + bad.text + "\n");
    EXPECT_NE(msg.find("test.txt:2"), std::string::npos) << bad.text << " -> " << msg;
    EXPECT_NE(msg.find(bad.problem), std::string::npos) << bad.text << " -> " << msg;
  }
}

TEST(Shapes, ShippedGramFilesParse) {
  for (const char* file : {"gram.txt", "gram_style.txt"}) {
    SCOPED_TRACE(file);
    const auto cases = load_shapes(file);
    EXPECT_FALSE(cases.empty());
    for (const auto& c : cases) {
      EXPECT_GE(c.get("N"), 1) << c.source;
      EXPECT_GE(c.get("C"), 1) << c.source;
      EXPECT_GE(c.get("H") * c.get("W"), 1) << c.source;
    }
  }
}

TEST(Shapes, MissingFileNamesThePath) {
  try {
    load_shapes("no_such_shapes_file.txt");
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("no_such_shapes_file.txt"), std::string::npos);
  }
}

}  // namespace
