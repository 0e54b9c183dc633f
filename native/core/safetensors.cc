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

float bf16_to_f32(uint16_t h) { uint32_t u = (uint32_t)h << 16; float f; std::memcpy(&f, &u, 4); return f; }
float f16_to_f32(uint16_t h) { return _cvtsh_ss(h); }

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); i++) r += (i ? "," : "") + std::to_string(s[i]);
  return r + "]";
}

}  // namespace

void load_safetensors(Model& m, const uint8_t* data, size_t len) {
  if (len < 8) throw EngineError("safetensors: file too short");
  uint64_t hl;
  std::memcpy(&hl, data, 8);
  if (hl > len - 8) throw EngineError("safetensors: header length past the end of the file");
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
  for (const TensorInfo& t : m.table) {
    auto it = entries.find(t.name);
    if (it == entries.end()) throw EngineError("safetensors: missing tensor " + t.name);
    const Entry& en = it->second;
    if (en.shape != t.shape) throw EngineError("safetensors: " + t.name + " has shape " + shape_str(en.shape) + ", expected " + shape_str(t.shape));
    size_t es = en.dtype == "F32" ? 4 : (en.dtype == "BF16" || en.dtype == "F16") ? 2 : 0;
    if (!es) throw EngineError("safetensors: " + t.name + " has dtype " + en.dtype + " (F32, BF16 or F16 accepted)");
    if (en.end > body || en.end < en.begin || en.end - en.begin != t.numel * es) throw EngineError("safetensors: bad data_offsets for " + t.name);
    const uint8_t* src = base + en.begin;
    float* dst = m.params.data() + t.offset;
    for (size_t i = 0; i < t.numel; i++) {
      if (es == 4) { std::memcpy(dst + i, src + 4 * i, 4); continue; }
      uint16_t h;
      std::memcpy(&h, src + 2 * i, 2);
      dst[i] = en.dtype == "BF16" ? bf16_to_f32(h) : f16_to_f32(h);
    }
  }
}

void load_safetensors_file(Model& m, const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw EngineError("cannot open " + path + ": " + std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) { ::close(fd); throw EngineError("cannot stat " + path); }
  size_t len = (size_t)st.st_size;
  void* p = len ? mmap(nullptr, len, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
  ::close(fd);
  if (p == MAP_FAILED) throw EngineError("cannot mmap " + path);
  try {
    load_safetensors(m, (const uint8_t*)p, len);
  } catch (...) {
    munmap(p, len);
    throw;
  }
  munmap(p, len);
}

std::vector<uint8_t> save_safetensors(const Model& m) {
  std::string h = "{\"__metadata__\":{\"format\":\"pt\"}";
  uint64_t at = 0;
  for (const TensorInfo& t : m.table) {
    h += ",\"" + t.name + "\":{\"dtype\":\"F32\",\"shape\":" + shape_str(t.shape) + ",\"data_offsets\":[" +
         std::to_string(at) + "," + std::to_string(at + t.numel * 4) + "]}";
    at += t.numel * 4;
  }
  h += "}";
  while ((h.size() + 8) % 8) h += ' ';
  std::vector<uint8_t> out(8 + h.size() + at);
  uint64_t hl = h.size();
  std::memcpy(out.data(), &hl, 8);
  std::memcpy(out.data() + 8, h.data(), h.size());
  uint8_t* body = out.data() + 8 + h.size();
  for (const TensorInfo& t : m.table) std::memcpy(body + 4 * t.offset, m.params.data() + t.offset, t.numel * 4);
  return out;
}

}  // namespace zs
