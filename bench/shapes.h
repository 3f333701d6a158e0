#pragma once
// Named layer shapes shared by the C++ benchmarks and the Python side
// (pybench/shapes/*.txt), in the spirit of oneDNN benchdnn's inputs/conv/shapes_* files.
//
// Format, one case a line:
//   vgg19:conv1_1 N=1 C=64 H=400 W=400
// a name (any non-blank text without '='), then one or more key=value sizes, values
// non-negative decimal integers. '#' starts a comment that runs to the end of the line;
// blank lines are ignored. The same name may appear on several lines (e.g. batch 1 and 4),
// so a case is identified by its name plus its sizes, and order is kept.
#include <cstdint>
#include <istream>
#include <map>
#include <string>
#include <vector>

namespace pybench::bench {

struct ShapeCase {
  std::string name;
  std::map<std::string, int64_t> sizes;
  std::string source;  // "file:line", for error messages
  int64_t get(const std::string& key) const;  // throws std::runtime_error when absent
  int64_t get(const std::string& key, int64_t fallback) const;
};

// Throws std::runtime_error("<source>:<line>: <problem>: '<line text>'") on a malformed
// line: a missing name, a token without '=', an empty key, a repeated key, a value that is
// not a non-negative integer, or a name with no sizes.
std::vector<ShapeCase> parse_shapes(std::istream& in, const std::string& source);

// Directory of the shape files: $PYBENCH_SHAPES_DIR if set, else the source tree's
// pybench/shapes compiled in by CMake.
std::string shapes_dir();

// Reads <shapes_dir()>/<file_name> (or file_name itself when it is an absolute path);
// throws std::runtime_error naming the path when it cannot be opened.
std::vector<ShapeCase> load_shapes(const std::string& file_name);

}  // namespace pybench::bench
