#include "shapes.h"

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#ifndef PYBENCH_SHAPES_DIR
#error "PYBENCH_SHAPES_DIR must name the pybench/shapes directory (set by CMakeLists.txt)"
#endif

namespace pybench::bench {
namespace {

[[noreturn]] void fail(const std::string& where, const std::string& problem,
                       const std::string& line) {
  throw std::runtime_error(where + ": " + problem + ": '" + line + "'");
}

bool parse_size(const std::string& text, int64_t* out) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return false;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (errno == ERANGE || *end != '\0') return false;
  *out = static_cast<int64_t>(v);
  return true;
}

}  // namespace

int64_t ShapeCase::get(const std::string& key) const {
  auto it = sizes.find(key);
  if (it == sizes.end()) {
    throw std::runtime_error(source + ": shape case '" + name + "' has no size '" + key + "'");
  }
  return it->second;
}

int64_t ShapeCase::get(const std::string& key, int64_t fallback) const {
  auto it = sizes.find(key);
  return it == sizes.end() ? fallback : it->second;
}

std::vector<ShapeCase> parse_shapes(std::istream& in, const std::string& source) {
  std::vector<ShapeCase> cases;
  std::string raw;
  for (int line_no = 1; std::getline(in, raw); ++line_no) {
    const std::string where = source + ":" + std::to_string(line_no);
    std::string text = raw.substr(0, raw.find('#'));
    std::istringstream tokens(text);
    std::string token;
    if (!(tokens >> token)) continue;  // blank or comment-only
    if (token.find('=') != std::string::npos) fail(where, "expected a case name first", raw);
    ShapeCase c;
    c.name = token;
    c.source = where;
    while (tokens >> token) {
      const auto eq = token.find('=');
      if (eq == std::string::npos) fail(where, "expected key=value, got '" + token + "'", raw);
      const std::string key = token.substr(0, eq);
      int64_t value = 0;
      if (key.empty()) fail(where, "empty key in '" + token + "'", raw);
      if (!parse_size(token.substr(eq + 1), &value)) {
        fail(where, "size '" + key + "' is not a non-negative integer", raw);
      }
      if (!c.sizes.emplace(key, value).second) fail(where, "size '" + key + "' repeated", raw);
    }
    if (c.sizes.empty()) fail(where, "case '" + c.name + "' has no key=value sizes", raw);
    cases.push_back(std::move(c));
  }
  return cases;
}

std::string shapes_dir() {
  const char* env = std::getenv("PYBENCH_SHAPES_DIR");
  return env && *env ? env : PYBENCH_SHAPES_DIR;
}

std::vector<ShapeCase> load_shapes(const std::string& file_name) {
  const std::string path =
      !file_name.empty() && file_name[0] == '/' ? file_name : shapes_dir() + "/" + file_name;
  std::ifstream in(path);
  if (!in) throw std::runtime_error("pybench: cannot open shape file " + path);
  return parse_shapes(in, path);
}

}  // namespace pybench::bench
