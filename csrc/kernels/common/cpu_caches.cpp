#include "common/cpu_caches.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <dirent.h>

namespace pybench::kernels::cpu {
namespace {

constexpr int64_t kMaxCacheSize = int64_t{1} << 40;  // 1 TiB: past it, a typo
constexpr const char* kEnvVar = "PYBENCH_CPU_CACHES";

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

std::string lower(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

// One cache level as CPUID leaf 4 / 0x8000001D encode it (the two share the layout):
//   EAX[4:0] type (0 none: the list ends, 1 data, 2 instruction, 3 unified), EAX[7:5] level;
//   EBX[11:0] line size - 1, EBX[21:12] physical line partitions - 1, EBX[31:22] ways - 1;
//   ECX sets - 1.  Size = ways * partitions * line * sets.
struct CpuidCache {
  int type = 0, level = 0;
  int64_t size = 0, line = 0;
};

CpuidCache decode_cache_leaf(const CpuidRegs& r) {
  CpuidCache c;
  c.type = static_cast<int>(r.eax & 0x1F);
  c.level = static_cast<int>((r.eax >> 5) & 0x7);
  c.line = static_cast<int64_t>(r.ebx & 0xFFF) + 1;
  const int64_t partitions = static_cast<int64_t>((r.ebx >> 12) & 0x3FF) + 1;
  const int64_t ways = static_cast<int64_t>((r.ebx >> 22) & 0x3FF) + 1;
  const int64_t sets = static_cast<int64_t>(r.ecx) + 1;
  c.size = ways * partitions * c.line * sets;
  return c;
}

// Keeps the first data / unified L1, the first unified (or data) L2 and L3.
void record_cache(CpuCaches& out, int level, bool data_or_unified, int64_t size, int64_t line) {
  if (!data_or_unified || size <= 0) return;
  if (level == 1 && out.l1d == 0) {
    out.l1d = size;
    out.line = line;
  } else if (level == 2 && out.l2 == 0) {
    out.l2 = size;
  } else if (level == 3 && out.l3 == 0) {
    out.l3 = size;
  }
}

std::optional<std::string> read_line(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  if (!f || !std::getline(f, line)) return std::nullopt;
  return trim(line);
}

std::optional<int64_t> parse_int(const std::string& text) {
  if (text.empty() || text.size() > 18) return std::nullopt;
  int64_t v = 0;
  for (char ch : text) {
    if (ch < '0' || ch > '9') return std::nullopt;
    v = v * 10 + (ch - '0');
  }
  return v;
}

#if defined(__x86_64__) || defined(__i386__)
CpuidRegs hardware_cpuid(uint32_t leaf, uint32_t subleaf) {
  CpuidRegs r;
  __cpuid_count(leaf, subleaf, r.eax, r.ebx, r.ecx, r.edx);
  return r;
}
#endif

CpuCaches detect() {
  CpuCaches id;
#if defined(__x86_64__) || defined(__i386__)
  id = parse_cpuid_caches(hardware_cpuid);
  if (id.complete()) return id;
#endif
  CpuCaches fs = parse_sysfs_caches("/sys/devices/system/cpu/cpu0/cache");
  CpuCaches out = fs.complete() ? fs : default_cpu_caches();
  // Vendor / family / model from CPUID even where the sizes are not.
  out.vendor = id.vendor;
  out.family = id.family;
  out.model = id.model;
  return out;
}

// The process's initial description: detection plus PYBENCH_CPU_CACHES, or the error the
// variable's parse gave.
struct CacheState {
  CpuCaches caches;
  std::string error;
};

const CacheState& initial_state() {
  static const CacheState state = [] {
    CacheState s;
    s.caches = detected_cpu_caches();
    if (const char* env = std::getenv(kEnvVar)) {
      try {
        s.caches = apply_cpu_caches_override(s.caches, parse_cpu_caches_override(env));
      } catch (const std::invalid_argument& e) {
        s.error = std::string(kEnvVar) + "='" + env + "': " + e.what();
      }
    }
    return s;
  }();
  return state;
}

std::atomic<const CacheState*>& active_slot() {
  static std::atomic<const CacheState*> slot{&initial_state()};
  return slot;
}

}  // namespace

CpuCaches parse_cpuid_caches(const CpuidFn& cpuid) {
  CpuCaches out;
  out.source = out.detected_source = "cpuid";
  const CpuidRegs leaf0 = cpuid(0, 0);
  const uint32_t max_leaf = leaf0.eax;
  char vendor[13] = {};
  std::memcpy(vendor, &leaf0.ebx, 4);
  std::memcpy(vendor + 4, &leaf0.edx, 4);
  std::memcpy(vendor + 8, &leaf0.ecx, 4);
  out.vendor = vendor;
  if (max_leaf >= 1) {
    // EAX: stepping [3:0], model [7:4], family [11:8], extended model [19:16], extended
    // family [27:20]. The extended family adds to family 15 only; the extended model
    // prefixes the model of families 6 and 15 (Intel's and AMD's rules agree here).
    const uint32_t eax = cpuid(1, 0).eax;
    const int base_family = static_cast<int>((eax >> 8) & 0xF);
    const int base_model = static_cast<int>((eax >> 4) & 0xF);
    out.family = base_family + (base_family == 0xF ? static_cast<int>((eax >> 20) & 0xFF) : 0);
    out.model = base_family == 0x6 || base_family == 0xF
                    ? (static_cast<int>((eax >> 16) & 0xF) << 4) + base_model
                    : base_model;
  }
  const uint32_t max_ext = cpuid(0x80000000u, 0).eax;
  const bool amd = out.vendor == "AuthenticAMD" || out.vendor == "HygonGenuine";
  uint32_t leaf = 0;
  if (amd) {
    // AMD's leaf 4 is reserved (zeros); 0x8000001D exists with TopologyExtensions.
    const bool topoext = max_ext >= 0x80000001u && (cpuid(0x80000001u, 0).ecx >> 22 & 1u);
    if (topoext && max_ext >= 0x8000001Du) leaf = 0x8000001Du;
  } else if (max_leaf >= 4) {
    leaf = 4;
  }
  if (leaf == 0) return out;
  for (uint32_t sub = 0; sub < 32; ++sub) {  // the list ends at type 0; 32 bounds a bad one
    const CpuidCache c = decode_cache_leaf(cpuid(leaf, sub));
    if (c.type == 0) break;
    record_cache(out, c.level, c.type == 1 || c.type == 3, c.size, c.line);
  }
  return out;
}

CpuCaches parse_sysfs_caches(const std::string& cache_dir) {
  CpuCaches out;
  out.source = out.detected_source = "sysfs";
  DIR* dir = opendir(cache_dir.c_str());
  if (!dir) return out;
  std::vector<std::pair<int64_t, std::string>> entries;  // (index, name), read in order
  while (const dirent* e = readdir(dir)) {
    const std::string name = e->d_name;
    if (name.rfind("index", 0) != 0) continue;
    if (auto i = parse_int(name.substr(5))) entries.emplace_back(*i, name);
  }
  closedir(dir);
  std::sort(entries.begin(), entries.end());
  for (const auto& entry : entries) {
    const std::string base = cache_dir + "/" + entry.second + "/";
    const auto level = read_line(base + "level");
    const auto type = read_line(base + "type");
    const auto size = read_line(base + "size");
    if (!level || !type || !size) continue;
    const auto lv = parse_int(*level);
    // The kernel prints sizes as "<n>K"; parse_cache_size reads that and more.
    const auto bytes = parse_cache_size(*size);
    if (!lv || !bytes) continue;
    int64_t line = 64;
    if (auto l = read_line(base + "coherency_line_size")) {
      if (auto v = parse_int(*l); v && *v > 0) line = *v;
    }
    record_cache(out, static_cast<int>(*lv), *type == "Data" || *type == "Unified", *bytes,
                 line);
  }
  return out;
}

std::optional<int64_t> parse_cache_size(const std::string& text) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 13) return std::nullopt;
  const int64_t number = *parse_int(text.substr(0, digits));
  const std::string suffix = lower(text.substr(digits));
  // Binary units, with or without "B" / "iB": the kernel's "48K", a data sheet's "48 KiB".
  const auto is = [&](char prefix) {
    const std::string p(1, prefix);
    return suffix == p || suffix == p + "b" || suffix == p + "ib";
  };
  int64_t unit = 0;
  if (suffix.empty() || suffix == "b") unit = 1;
  if (is('k')) unit = int64_t{1} << 10;
  if (is('m')) unit = int64_t{1} << 20;
  if (is('g')) unit = int64_t{1} << 30;
  if (unit == 0 || number == 0 || number > kMaxCacheSize / unit) return std::nullopt;
  return number * unit;
}

CpuCachesOverride parse_cpu_caches_override(const std::string& spec) {
  CpuCachesOverride o;
  if (trim(spec).empty()) return o;
  size_t start = 0;
  while (true) {
    const size_t comma = spec.find(',', start);
    const std::string item =
        trim(spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    const size_t eq = item.find('=');
    if (eq == std::string::npos) {
      throw std::invalid_argument("item '" + item +
                                  "' is not key=size (expected e.g. l1d=32K,l2=512K,l3=8M)");
    }
    const std::string key = trim(item.substr(0, eq));
    const std::string value = trim(item.substr(eq + 1));
    std::optional<int64_t>* slot = key == "l1d" ? &o.l1d
                                   : key == "l2" ? &o.l2
                                   : key == "l3" ? &o.l3
                                                 : nullptr;
    if (!slot) {
      throw std::invalid_argument("unknown cache '" + key + "' (expected l1d, l2 or l3)");
    }
    if (slot->has_value()) throw std::invalid_argument("cache '" + key + "' given twice");
    *slot = parse_cache_size(value);
    if (!slot->has_value()) {
      throw std::invalid_argument("bad size '" + value + "' for " + key +
                                  " (expected a positive number of bytes with an optional K, "
                                  "M or G suffix, at most 1 TiB, e.g. 512K)");
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return o;
}

CpuCaches apply_cpu_caches_override(const CpuCaches& detected, const CpuCachesOverride& o) {
  CpuCaches out = detected;
  if (o.l1d) out.l1d = *o.l1d;
  if (o.l2) out.l2 = *o.l2;
  if (o.l3) out.l3 = *o.l3;
  if (o.l1d || o.l2 || o.l3) out.source = "override";
  return out;
}

const CpuCaches& detected_cpu_caches() {
  static const CpuCaches caches = detect();
  return caches;
}

const CpuCaches& cpu_caches() {
  const CacheState* s = active_slot().load(std::memory_order_acquire);
  if (!s->error.empty()) throw std::invalid_argument(s->error);
  return s->caches;
}

void set_cpu_caches_for_testing(const std::string& spec) {
  if (trim(spec).empty()) {
    active_slot().store(&initial_state(), std::memory_order_release);
    return;
  }
  const CpuCaches caches =
      apply_cpu_caches_override(detected_cpu_caches(), parse_cpu_caches_override(spec));
  // Every description installed is kept to the end of the process (a deque: its elements
  // never move), since a kernel on another thread may still hold a reference to the one
  // before; tests install a handful.
  static std::mutex mutex;
  static std::deque<CacheState> installed;
  std::lock_guard<std::mutex> lock(mutex);
  installed.push_back(CacheState{caches, ""});
  active_slot().store(&installed.back(), std::memory_order_release);
}

std::string format_cache_size(int64_t bytes) {
  if (bytes > 0 && bytes % (int64_t{1} << 20) == 0) {
    return std::to_string(bytes >> 20) + " MiB";
  }
  if (bytes > 0 && bytes % 1024 == 0) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + " B";
}

}  // namespace pybench::kernels::cpu
