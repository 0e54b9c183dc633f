// Single-kernel entry points for the tests (optimised kernel vs its _ref twin, finite differences).
// Synchronous: tests call them on tiny shapes.
#include <cmath>
#include <vector>

#include "attention.h"
#include "logprob.h"
#include "matmul.h"
#include "model.h"
#include "kernelset.h"
#include "peak.h"
#include "rmsnorm.h"
#include "rope.h"
#include "sampling.h"
#include "swiglu.h"
#include "threadpool.h"
#include "util.h"

namespace zsb {
namespace {

int I(const Napi::CallbackInfo& info, int i, const char* w) { return (int)number(info[i], w); }
bool ref(const Napi::CallbackInfo& info) { return info[0].ToBoolean(); }
// Packing workspace kept across calls (the JS thread is the only caller).
float* pack_ws(size_t n) {
  static std::vector<float> ws;
  if (ws.size() < n) ws.resize(n);
  return ws.data();
}

// matmul(ref, out, in, w, b|null, N, I, O, compute?)
Napi::Value Matmul(const Napi::CallbackInfo& info) {
  int N = I(info, 5, "N"), In = I(info, 6, "I"), O = I(info, 7, "O");
  float* out = typed<float>(info[1], "out", (long)N * O);
  float* in = typed<float>(info[2], "in", (long)N * In);
  float* w = typed<float>(info[3], "w", (long)O * In);
  float* b = typed_opt<float>(info[4], "b", O);
  const zs::Compute c = compute_of(info[8], true);
  if (ref(info)) zs::matmul_forward_ref(out, in, w, b, N, In, O, c);
  else zs::matmul_forward(out, pack_ws(zs::matmul_pack_floats(N, In, O)), in, w, b, N, In, O, c);
  return info.Env().Undefined();
}

// matmulBackward(ref, din|null, dw|null, db|null, dout, in, w, N, I, O, compute?)
Napi::Value MatmulBackward(const Napi::CallbackInfo& info) {
  int N = I(info, 7, "N"), In = I(info, 8, "I"), O = I(info, 9, "O");
  float* din = typed_opt<float>(info[1], "din", (long)N * In);  // null: skipped (bench native times dX and dW apart)
  float* dw = typed_opt<float>(info[2], "dw", (long)O * In);
  float* db = typed_opt<float>(info[3], "db", O);
  float* dout = typed<float>(info[4], "dout", (long)N * O);
  float* in = typed<float>(info[5], "in", (long)N * In);
  float* w = typed<float>(info[6], "w", (long)O * In);
  const zs::Compute c = compute_of(info[10], true);
  if (ref(info)) zs::matmul_backward_ref(din, dw, db, dout, in, w, N, In, O, c);
  else zs::matmul_backward(din, dw, db, pack_ws(zs::matmul_pack_floats(N, In, O)), dout, in, w, N, In, O, c);
  return info.Env().Undefined();
}

// rmsnorm(ref, out, rstd, in, w, N, C, eps)
Napi::Value Rmsnorm(const Napi::CallbackInfo& info) {
  int N = I(info, 5, "N"), C = I(info, 6, "C");
  float eps = (float)number(info[7], "eps");
  float* out = typed<float>(info[1], "out", (long)N * C);
  float* rstd = typed<float>(info[2], "rstd", N);
  float* in = typed<float>(info[3], "in", (long)N * C);
  float* w = typed<float>(info[4], "w", C);
  (ref(info) ? zs::rmsnorm_forward_ref : zs::rmsnorm_forward)(out, rstd, in, w, N, C, eps);
  return info.Env().Undefined();
}

// rmsnormBackward(ref, din, dw, dout, in, rstd, w, N, C)
Napi::Value RmsnormBackward(const Napi::CallbackInfo& info) {
  int N = I(info, 7, "N"), C = I(info, 8, "C");
  (ref(info) ? zs::rmsnorm_backward_ref : zs::rmsnorm_backward)(
      typed<float>(info[1], "din", (long)N * C), typed<float>(info[2], "dw", C), typed<float>(info[3], "dout", (long)N * C),
      typed<float>(info[4], "in", (long)N * C), typed<float>(info[5], "rstd", N), typed<float>(info[6], "w", C), N, C);
  return info.Env().Undefined();
}

// swiglu(ref, out, gu, N, F) / swigluBackward(ref, dgu, dout, gu, N, F)
Napi::Value Swiglu(const Napi::CallbackInfo& info) {
  int N = I(info, 3, "N"), F = I(info, 4, "F");
  (ref(info) ? zs::swiglu_forward_ref : zs::swiglu_forward)(typed<float>(info[1], "out", (long)N * F),
                                                            typed<float>(info[2], "gu", (long)N * 2 * F), N, F);
  return info.Env().Undefined();
}
Napi::Value SwigluBackward(const Napi::CallbackInfo& info) {
  int N = I(info, 4, "N"), F = I(info, 5, "F");
  (ref(info) ? zs::swiglu_backward_ref : zs::swiglu_backward)(typed<float>(info[1], "dgu", (long)N * 2 * F),
      typed<float>(info[2], "dout", (long)N * F), typed<float>(info[3], "gu", (long)N * 2 * F), N, F);
  return info.Env().Undefined();
}

// rope(x, pos, N, heads, D, theta, backward)
Napi::Value Rope(const Napi::CallbackInfo& info) {
  int N = I(info, 2, "N"), heads = I(info, 3, "heads"), D = I(info, 4, "D");
  float theta = (float)number(info[5], "theta");
  float* x = typed<float>(info[0], "x", (long)N * heads * D);
  int* pos = typed<int32_t>(info[1], "pos", N);
  int P = 1;
  for (int n = 0; n < N; n++) P = std::max(P, pos[n] + 1);
  std::vector<float> c((size_t)P * D / 2), s((size_t)P * D / 2);
  zs::rope_tables(c.data(), s.data(), P, D, theta);
  (info[6].ToBoolean() ? zs::rope_backward : zs::rope_forward)(x, pos, c.data(), s.data(), N, heads, D, (long)heads * D);
  return info.Env().Undefined();
}

std::vector<int> offsets(const Napi::Value& v, int* B, int* Tmax) {
  size_t b;
  int* lens = typed<int32_t>(v, "seqLens", -1, &b);
  std::vector<int> off(b + 1, 0);
  *Tmax = 0;
  for (size_t i = 0; i < b; i++) { off[i + 1] = off[i] + lens[i]; *Tmax = std::max(*Tmax, lens[i]); }
  *B = (int)b;
  return off;
}

// attention(ref, out, lse, qkv, seqLens, H, KVH, D)
Napi::Value Attention(const Napi::CallbackInfo& info) {
  int B, Tmax;
  auto off = offsets(info[4], &B, &Tmax);
  zs::AttnDims d{I(info, 5, "H"), I(info, 6, "KVH"), I(info, 7, "D")};
  long N = off[B];
  float* out = typed<float>(info[1], "out", N * d.H * d.D);
  float* lse = typed<float>(info[2], "lse", N * d.H);
  float* qkv = typed<float>(info[3], "qkv", N * (d.H + 2 * d.KVH) * d.D);
  if (ref(info)) { zs::attention_forward_ref(out, qkv, off.data(), B, d); return info.Env().Undefined(); }
  const int slices = zs::get_threads();
  std::vector<float> scratch(zs::attention_scratch_floats(Tmax, d.D) * slices);
  zs::attention_forward(out, lse, scratch.data(), qkv, off.data(), B, Tmax, d, slices);
  return info.Env().Undefined();
}

// attentionBackward(dqkv, dout, out, lse, qkv, seqLens, H, KVH, D)
Napi::Value AttentionBackward(const Napi::CallbackInfo& info) {
  int B, Tmax;
  auto off = offsets(info[5], &B, &Tmax);
  zs::AttnDims d{I(info, 6, "H"), I(info, 7, "KVH"), I(info, 8, "D")};
  long N = off[B], QKV = (long)(d.H + 2 * d.KVH) * d.D;
  const int slices = zs::get_threads();
  std::vector<float> scratch(zs::attention_scratch_floats(Tmax, d.D) * slices);
  zs::attention_backward(typed<float>(info[0], "dqkv", N * QKV), scratch.data(), typed<float>(info[1], "dout", N * d.H * d.D),
                         typed<float>(info[2], "out", N * d.H * d.D), typed<float>(info[3], "lse", N * d.H),
                         typed<float>(info[4], "qkv", N * QKV), off.data(), B, Tmax, d, slices);
  return info.Env().Undefined();
}

// logprob(ref, lp, ent, logits, tokens, seqLens, V, T)
Napi::Value Logprob(const Napi::CallbackInfo& info) {
  zs::Packed p(typed<int32_t>(info[5], "seqLens", -1), (int)info[5].As<Napi::TypedArray>().ElementLength());
  int V = I(info, 6, "V");
  float T = (float)number(info[7], "T");
  (ref(info) ? zs::logprob_forward_ref : zs::logprob_forward)(typed<float>(info[1], "lp", p.N), typed<float>(info[2], "ent", p.N),
      typed<float>(info[3], "logits", (long)p.N * V), typed<int32_t>(info[4], "tokens", p.N), p.start.data(), p.N, V, T);
  return info.Env().Undefined();
}

// logprobBackward(dlogits, dlp, logits, tokens, seqLens, V, T)
Napi::Value LogprobBackward(const Napi::CallbackInfo& info) {
  zs::Packed p(typed<int32_t>(info[4], "seqLens", -1), (int)info[4].As<Napi::TypedArray>().ElementLength());
  int V = I(info, 5, "V");
  zs::logprob_backward(typed<float>(info[0], "dlogits", (long)p.N * V), typed<float>(info[1], "dlp", p.N),
                       typed<float>(info[2], "logits", (long)p.N * V), typed<int32_t>(info[3], "tokens", p.N),
                       p.start.data(), p.N, V, (float)number(info[6], "T"));
  return info.Env().Undefined();
}

// sampleRow(ref, logits, temperature, topP, topK, u) -> [token, logprob] (sample_row), or with ref
// [token, logprob, margin] (sample_row_ref and how near its decisions were to an edge)
Napi::Value SampleRow(const Napi::CallbackInfo& info) {
  size_t V;
  float* z = typed<float>(info[1], "logits", -1, &V);
  if (V == 0) throw Napi::TypeError::New(info.Env(), "expected a non-empty Float32Array for logits");
  zs::SampleSettings s{(float)number(info[2], "temperature"), (float)number(info[3], "topP"), (int)number(info[4], "topK")};
  const double u = number(info[5], "u");
  float lp;
  double margin = 0;
  int y;
  if (ref(info)) {
    y = zs::sample_row_ref(&lp, z, (int)V, s, u, &margin);
  } else {
    std::vector<int> idx(V);
    std::vector<float> prob(V);
    y = zs::sample_row(&lp, idx.data(), prob.data(), z, (int)V, s, u);
  }
  Napi::Array a = Napi::Array::New(info.Env(), ref(info) ? 3 : 2);
  a[0u] = Napi::Number::New(info.Env(), y);
  a[1u] = Napi::Number::New(info.Env(), lp);
  if (ref(info)) a[2u] = Napi::Number::New(info.Env(), margin);
  return a;
}

// fmaPeak(iters) -> GFLOP/s on all pool threads
Napi::Value FmaPeak(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), zs::fma_peak_gflops((long)number(info[0], "iters")));
}

// isaPeak(isa, iters) -> GFLOP/s of one instruction's probe on all pool threads (0 where the CPU lacks it)
Napi::Value IsaPeak(const Napi::CallbackInfo& info) {
  if (!info[0].IsString()) throw Napi::TypeError::New(info.Env(), "isaPeak: expected an instruction name (fma256, fma512, dpbf16), got " + describe(info[0]));
  const std::string isa = info[0].As<Napi::String>().Utf8Value();
  const long iters = (long)number(info[1], "iters");
  try { return Napi::Number::New(info.Env(), zs::isa_peak_gflops(isa.c_str(), iters)); }
  catch (const std::exception& e) { throw Napi::Error::New(info.Env(), e.what()); }
}

// setKernelSet(name): tests and benchmarks switch sets between calls (never while one runs)
Napi::Value SetKernelSet(const Napi::CallbackInfo& info) {
  if (!info[0].IsString()) throw Napi::TypeError::New(info.Env(), "setKernelSet: expected avx2, avx512 or avx512-bf16, got " + describe(info[0]));
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  try { zs::set_kernel_set(zs::parse_kernel_set(name.c_str())); }
  catch (const std::exception& e) { throw Napi::Error::New(info.Env(), e.what()); }
  return info.Env().Undefined();
}

}  // namespace

// setWideRowBytes(bytes) -> previous: benchmarks compare GEMM row blockings in one process (bits never change)
Napi::Value SetWideRowBytes(const Napi::CallbackInfo& info) {
  const double b = number(info[0], "bytes");
  if (!(b >= 0)) throw Napi::RangeError::New(info.Env(), "setWideRowBytes: expected bytes >= 0, got " + describe(info[0]));
  return Napi::Number::New(info.Env(), (double)zs::matmul_set_wide_b_bytes(b >= 1.8e19 ? SIZE_MAX : (size_t)b));
}

// setUnpackedA(on) -> previous: benchmarks compare packing A with reading it in place (bits never change)
Napi::Value SetUnpackedA(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), zs::matmul_set_unpacked_a(info[0].ToBoolean()));
}

void init_kernels(Napi::Env env, Napi::Object exports) {
  Napi::Object k = Napi::Object::New(env);
  auto fn = [&](const char* name, Napi::Value (*f)(const Napi::CallbackInfo&)) { k.Set(name, Napi::Function::New(env, f, name)); };
  fn("matmul", Matmul); fn("matmulBackward", MatmulBackward); fn("rmsnorm", Rmsnorm); fn("rmsnormBackward", RmsnormBackward);
  fn("swiglu", Swiglu); fn("swigluBackward", SwigluBackward); fn("rope", Rope); fn("attention", Attention);
  fn("attentionBackward", AttentionBackward); fn("logprob", Logprob); fn("logprobBackward", LogprobBackward);
  fn("sampleRow", SampleRow); fn("fmaPeak", FmaPeak); fn("isaPeak", IsaPeak); fn("setKernelSet", SetKernelSet);
  fn("setWideRowBytes", SetWideRowBytes); fn("setUnpackedA", SetUnpackedA);
  exports.Set("kernels", k);
}

}  // namespace zsb
