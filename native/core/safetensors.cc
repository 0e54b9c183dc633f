#include "safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <map>

#include "common.h"

namespace zs {
namespace {

struct Entry { std::string dtype; std::vector<int64_t> shape; uint64_t begin = 0, end = 0; };

// A small JSON reader for the safetensors header: objects, arrays, strings, numbers, literals.
struct Json {
  const char* p; const char* e;
  void ws() { while (p < e && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++; }
  void expect(char c) {
    ws();
    if (p >= e || *p != c) throw EngineError(std::string("safetensors header: expected '") + c + "'");
    p++;
  }
  bool peek(char c) { ws(); return p < e && *p == c; }
  std::string str() {
    expect('"');
    std::string s;
    while (p < e && *p != '"') {
      if (*p == '\\') { p++; if (p >= e) break; }
      s += *p++;
    }
    expect('"');
    return s;
  }
  double num() {
    ws();
    char* end = nullptr;
    double v = std::strtod(p, &end);
    if (end == p) throw EngineError("safetensors header: expected a number");
    p = end;
    return v;
  }
  std::vector<int64_t> ints() {
    std::vector<int64_t> v;
    expect('[');
    if (peek(']')) { p++; return v; }
    for (;;) { v.push_back((int64_t)num()); if (peek(',')) { p++; continue; } expect(']'); return v; }
  }
  void skip() {
    ws();
    if (peek('"')) { str(); return; }
    if (peek('{')) { p++; if (peek('}')) { p++; return; } for (;;) { str(); expect(':'); skip(); if (peek(',')) { p++; continue; } expect('}'); return; } }
    if (peek('[')) { p++; if (peek(']')) { p++; return; } for (;;) { skip(); if (peek(',')) { p++; continue; } expect(']'); return; } }
    while (p < e && *p != ',' && *p != '}' && *p != ']') p++;
  }
  Entry entry() {
    Entry en;
    expect('{');
    for (;;) {
      std::string k = str();
      expect(':');
      if (k == "dtype") en.dtype = str();
      else if (k == "shape") en.shape = ints();
      else if (k == "data_offsets") { auto o = ints(); if (o.size() != 2) throw EngineError("bad data_offsets"); en.begin = o[0]; en.end = o[1]; }
      else skip();
      if (peek(',')) { p++; continue; }
      expect('}');
      return en;
    }
  }
};

float f16_to_f32(uint16_t h) { return _cvtsh_ss(h); }

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); i++) r += (i ? "," : "") + std::to_string(s[i]);
  return r + "]";
}

}  // namespace

namespace {

// Loads the tensors of one file that belong to the model's table (others are left to the caller's checks)
// and marks them in seen; a tensor already loaded from another file is an error.
void load_part(Model& m, const uint8_t* data, size_t len, std::vector<char>& seen, const std::string& where) {
  const std::string at = where.empty() ? "safetensors: " : "safetensors (" + where + "): ";
  if (len < 8) throw EngineError(at + "file too short");
  uint64_t hl;
  std::memcpy(&hl, data, 8);
  if (hl > len - 8) throw EngineError(at + "header length past the end of the file");
  Json j{(const char*)data + 8, (const char*)data + 8 + hl};
  std::map<std::string, Entry> entries;
  j.expect('{');
  if (!j.peek('}')) for (;;) {
    std::string name = j.str();
    j.expect(':');
    if (name == "__metadata__") j.skip(); else entries[name] = j.entry();
    if (j.peek(',')) { j.p++; continue; }
    j.expect('}');
    break;
  }
  const uint8_t* base = data + 8 + hl;
  const size_t body = len - 8 - hl;
  for (size_t ti = 0; ti < m.table.size(); ti++) {
    const TensorInfo& t = m.table[ti];
    auto it = entries.find(t.name);
    if (it == entries.end()) continue;
    if (seen[ti]) throw EngineError(at + t.name + " is in more than one file");
    const Entry& en = it->second;
    if (en.shape != t.shape) throw EngineError(at + t.name + " has shape " + shape_str(en.shape) + ", expected " + shape_str(t.shape));
    const int kind = en.dtype == "F32" ? 0 : en.dtype == "BF16" ? 1 : en.dtype == "F16" ? 2 : -1;
    if (kind < 0) throw EngineError(at + t.name + " has dtype " + en.dtype + " (F32, BF16 or F16 accepted)");
    const size_t es = kind == 0 ? 4 : 2;
    if (en.end > body || en.end < en.begin || en.end - en.begin != t.numel * es) throw EngineError(at + "bad data_offsets for " + t.name);
    const uint8_t* src = base + en.begin;
    auto value = [&](size_t i) {  // element i as fp32 (exact for every accepted dtype)
      if (kind == 0) { float f; std::memcpy(&f, src + 4 * i, 4); return f; }
      uint16_t h;
      std::memcpy(&h, src + 2 * i, 2);
      return kind == 1 ? bf16_to_f32(h) : f16_to_f32(h);
    };
    if (m.dtype == Dtype::f32) {
      float* dst = m.params.data() + t.offset;
      if (kind == 0) std::memcpy(dst, src, t.numel * 4);
      else for (size_t i = 0; i < t.numel; i++) dst[i] = value(i);
    } else if (t.shape.size() == 1) {  // a bf16 copy's 1-D tensor: bf16 values kept as fp32
      float* dst = m.params.data() + m.vec_at[ti];
      for (size_t i = 0; i < t.numel; i++) dst[i] = bf16_to_f32(f32_to_bf16(value(i)));
    } else {                            // a bf16 copy's matrix: BF16 as it is, others rounded to nearest even
      uint16_t* dst = m.params16.data() + t.offset;
      if (kind == 1) std::memcpy(dst, src, t.numel * 2);
      else for (size_t i = 0; i < t.numel; i++) dst[i] = f32_to_bf16(value(i));
    }
    seen[ti] = 1;
  }
}

void check_all_seen(const Model& m, const std::vector<char>& seen) {
  for (size_t ti = 0; ti < m.table.size(); ti++)
    if (!seen[ti]) throw EngineError("safetensors: missing tensor " + m.table[ti].name);
}

struct Mapped {
  void* p = MAP_FAILED; size_t len = 0;
  explicit Mapped(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) throw EngineError("cannot open " + path + ": " + std::strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) { ::close(fd); throw EngineError("cannot stat " + path); }
    len = (size_t)st.st_size;
    p = len ? mmap(nullptr, len, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    ::close(fd);
    if (p == MAP_FAILED) throw EngineError(len ? "cannot mmap " + path : "safetensors (" + path + "): empty file");
  }
  ~Mapped() { if (p != MAP_FAILED) munmap(p, len); }
  Mapped(const Mapped&) = delete;
  Mapped& operator=(const Mapped&) = delete;
};

}  // namespace

void load_safetensors(Model& m, const uint8_t* data, size_t len) {
  std::vector<char> seen(m.table.size(), 0);
  load_part(m, data, len, seen, "");
  check_all_seen(m, seen);
}

void load_safetensors_file(Model& m, const std::string& path) {
  Mapped f(path);
  load_safetensors(m, (const uint8_t*)f.p, f.len);
}

void load_safetensors_files(Model& m, const std::vector<std::string>& paths) {
  std::vector<char> seen(m.table.size(), 0);
  for (const std::string& path : paths) {
    Mapped f(path);
    load_part(m, (const uint8_t*)f.p, f.len, seen, paths.size() > 1 ? path : "");
  }
  check_all_seen(m, seen);
}

// The header (padded to 8 bytes) and the data size of a model's F32 or BF16 safetensors.
static std::string safetensors_header(const Model& m, bool bf16, uint64_t* data_bytes) {
  const size_t es = bf16 ? 2 : 4;
  std::string h = "{\"__metadata__\":{\"format\":\"pt\"}";
  uint64_t at = 0;
  for (const TensorInfo& t : m.table) {
    h += ",\"" + t.name + "\":{\"dtype\":\"" + (bf16 ? "BF16" : "F32") + "\",\"shape\":" + shape_str(t.shape) +
         ",\"data_offsets\":[" + std::to_string(at) + "," + std::to_string(at + t.numel * es) + "]}";
    at += t.numel * es;
  }
  h += "}";
  while ((h.size() + 8) % 8) h += ' ';
  *data_bytes = at;
  return h;
}

size_t safetensors_size(const Model& m, bool bf16) {
  uint64_t at = 0;
  std::string h = safetensors_header(m, bf16, &at);
  return 8 + h.size() + at;
}

void save_safetensors_into(const Model& m, uint8_t* out, size_t size, bool bf16) {
  uint64_t at = 0;
  std::string h = safetensors_header(m, bf16, &at);
  if (size != 8 + h.size() + at) throw std::runtime_error("save_safetensors_into: wrong buffer size");
  uint64_t hl = h.size();
  std::memcpy(out, &hl, 8);
  std::memcpy(out + 8, h.data(), h.size());
  uint8_t* body = out + 8 + h.size();
  const bool half = m.dtype == Dtype::bf16;
  for (size_t ti = 0; ti < m.table.size(); ti++) {
    const TensorInfo& t = m.table[ti];
    const bool vec = t.shape.size() == 1;
    if (!half) {
      const float* src = m.params.data() + t.offset;
      if (!bf16) { std::memcpy(body + 4 * t.offset, src, t.numel * 4); continue; }
      uint16_t* d = (uint16_t*)(body + 2 * t.offset);  // rounded to nearest even: the bf16 copy's values
      for (size_t i = 0; i < t.numel; i++) { uint16_t v = f32_to_bf16(src[i]); std::memcpy(d + i, &v, 2); }
    } else if (vec) {
      const float* src = m.params.data() + m.vec_at[ti];  // bf16-exact
      for (size_t i = 0; i < t.numel; i++) {
        if (bf16) { uint16_t v = f32_to_bf16(src[i]); std::memcpy(body + 2 * (t.offset + i), &v, 2); }
        else std::memcpy(body + 4 * (t.offset + i), src + i, 4);
      }
    } else {
      const uint16_t* src = m.params16.data() + t.offset;
      if (bf16) { std::memcpy(body + 2 * t.offset, src, t.numel * 2); continue; }
      for (size_t i = 0; i < t.numel; i++) { float f = bf16_to_f32(src[i]); std::memcpy(body + 4 * (t.offset + i), &f, 4); }
    }
  }
}

std::vector<uint8_t> save_safetensors(const Model& m, bool bf16) {
  std::vector<uint8_t> out(safetensors_size(m, bf16));
  save_safetensors_into(m, out.data(), out.size(), bf16);
  return out;
}

}  // namespace zs
