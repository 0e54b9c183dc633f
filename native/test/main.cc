// Native tests without Node: the thread-pool stress, each optimised kernel against its _ref twin,
// and whole-model calls that must give the same bits with 1 or 2 threads and with several callers
// at once (the sampler's tests: sample_tests.cc; the loss's: loss_tests.cc; shared helpers:
// harness.h). Built plainly and with ThreadSanitizer by scripts/native-tests.mjs (npm run test:tsan).
// Usage: zs_native_tests [--seconds S] [--callers K] [--filter NAME]; exit 0 when every test passes.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "attention.h"
#include "common.h"
#include "kernelset.h"
#include "logprob.h"
#include "matmul.h"
#include "model.h"
#include "pool_stress.h"
#include "rmsnorm.h"
#include "sampling.h"
#include "swiglu.h"
#include "threadpool.h"
#include "train.h"
#include "generate.h"
#include "harness.h"

namespace {

using namespace zst;

double g_seconds = 3;
int g_callers = 3;
int g_failed = 0;


// ---- the pool -----------------------------------------------------------------------------------

void test_pool_stress() {
  for (int threads : {2, 3}) {
    zs::set_threads(threads);
    std::vector<zs::PoolStressResult> res(g_callers);
    std::vector<std::thread> callers;
    for (int c = 0; c < g_callers; c++)
      callers.emplace_back([&, c] { res[c] = zs::pool_stress(1000 + c, (int)(g_seconds * 1000 / 2), ~0ull, 7); });
    for (auto& t : callers) t.join();
    zs::PoolStressResult total;
    for (auto& r : res) {
      total.calls += r.calls; total.items += r.items; total.missing += r.missing; total.duplicate += r.duplicate;
      total.out_of_range += r.out_of_range; total.late += r.late; total.bad_tid += r.bad_tid;
    }
    std::printf("    %d pool threads, %d callers: %s\n", threads, g_callers, total.describe().c_str());
    CHECK(total.ok(), "the pool ran an item twice, never, out of range or late");
    CHECK(total.calls > 0, "no call completed");
  }
  zs::set_threads(2);
}

// Nested use from kernels: parallel_for called by several threads while set_threads changes.
void test_pool_resize_under_load() {
  std::atomic<bool> stop{false};
  std::vector<std::thread> callers;
  std::vector<zs::PoolStressResult> res(2);
  for (int c = 0; c < 2; c++)
    callers.emplace_back([&, c] {
      while (!stop.load()) {
        auto r = zs::pool_stress(77 + c, 50, 2000, 9);
        res[c].calls += r.calls; res[c].missing += r.missing; res[c].duplicate += r.duplicate;
        res[c].out_of_range += r.out_of_range; res[c].late += r.late; res[c].bad_tid += r.bad_tid;
      }
    });
  for (int i = 0; i < 40; i++) {
    zs::set_threads(1 + i % 3);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stop = true;
  for (auto& t : callers) t.join();
  zs::set_threads(2);
  for (auto& r : res) CHECK(r.ok(), "resize under load: %s", r.describe().c_str());
  std::printf("    %llu + %llu calls while the thread count changed 40 times\n", (unsigned long long)res[0].calls,
              (unsigned long long)res[1].calls);
}

// ---- kernels against their _ref twins -----------------------------------------------------------

// fn under every kernel set this CPU runs (a set it lacks is compiled, not run: said so), then the set that was
// active before. Sets switch between calls only (kernelset.h).
void for_each_set(const std::function<void(zs::KernelSet)>& fn) {
  const zs::KernelSet before = zs::kernel_set();
  for (zs::KernelSet s : {zs::KernelSet::avx2, zs::KernelSet::avx512, zs::KernelSet::avx512bf16}) {
    if (!zs::kernel_set_supported(s)) { std::printf("    [%s] not on this CPU: compiled, not run\n", zs::kernel_set_name(s)); continue; }
    zs::set_kernel_set(s);
    std::printf("    [%s]\n", zs::kernel_set_name(s));
    fn(s);
  }
  zs::set_kernel_set(before);
}

void test_matmul() { for_each_set([](zs::KernelSet) {
  for (auto [N, I, O] : std::vector<std::array<int, 3>>{{1, 5, 3}, {7, 33, 17}, {50, 64, 40}, {13, 300, 70}}) {
    auto x = rand_vec((size_t)N * I, 1), w = rand_vec((size_t)O * I, 2), b = rand_vec(O, 3), dout = rand_vec((size_t)N * O, 4);
    std::vector<float> a((size_t)N * O), r((size_t)N * O), pack(zs::matmul_pack_floats(N, I, O));
    zs::matmul_forward(a.data(), pack.data(), x.data(), w.data(), b.data(), N, I, O);
    zs::matmul_forward_ref(r.data(), x.data(), w.data(), b.data(), N, I, O);
    double e = rel_err(a.data(), r.data(), a.size());
    CHECK(e < 1e-5, "matmul %dx%dx%d forward rel %g", N, I, O, e);
    std::vector<float> di1((size_t)N * I), dw1((size_t)O * I), db1(O), di2((size_t)N * I), dw2((size_t)O * I), db2(O);
    zs::matmul_backward(di1.data(), dw1.data(), db1.data(), pack.data(), dout.data(), x.data(), w.data(), N, I, O);
    zs::matmul_backward_ref(di2.data(), dw2.data(), db2.data(), dout.data(), x.data(), w.data(), N, I, O);
    CHECK(rel_err(di1.data(), di2.data(), di1.size()) < 1e-5, "matmul din");
    CHECK(rel_err(dw1.data(), dw2.data(), dw1.size()) < 1e-5, "matmul dw");
    CHECK(rel_err(db1.data(), db2.data(), db1.size()) < 1e-5, "matmul db");
    std::printf("    matmul %dx%dx%d: forward rel %.2e\n", N, I, O, e);
  }
}); }

// compute bf16: the kernel against its _ref twin reading the same contract (operands rounded to bf16, sums in
// double), and bit for bit the fp32 kernel on operands rounded beforehand (products of bf16 values are exact
// in fp32 and the FMA chain is the same); and far enough from fp32 to show that it rounds.
void test_round_bf16() {
  // the vectorised rounding against common.h's scalar one, bit for bit: ties (even and odd), NaNs, infinities,
  // zeros, denormals, the largest finite values (rounding up to infinity), and 1 M random bit patterns
  std::vector<uint32_t> u = {0x3f808000u, 0x3f818000u, 0x3f807fffu, 0x3f808001u, 0x7fc00001u, 0x7f800001u, 0xff800001u, 0x7f800000u,
                             0xff800000u, 0u, 0x80000000u, 0x00000001u, 0x00008000u, 0x00018000u, 0x7f7fffffu, 0xff7fffffu, 0x7f7f8000u};
  uint64_t x = 88172645463325252ULL;
  for (int i = 0; i < 1000000; i++) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; u.push_back((uint32_t)x); }
  std::vector<float> a(u.size()), b(u.size());
  std::memcpy(a.data(), u.data(), u.size() * 4);
  for (size_t i = 0; i < a.size(); i++) b[i] = zs::bf16_to_f32(zs::f32_to_bf16(a[i]));
  zs::round_bf16_inplace(a.data() + 1, a.size() - 1);  // an unaligned start and a scalar tail too
  a[0] = b[0];
  CHECK(std::memcmp(a.data(), b.data(), a.size() * 4) == 0, "round_bf16_inplace differs from f32_to_bf16");
  std::printf("    %zu values: the vectorised rounding is the scalar one, bit for bit\n", a.size());
}

void test_matmul_bf16() { for_each_set([](zs::KernelSet set) {
  // avx512-bf16 multiplies bf16 pairs with vdpbf16ps: the ref's contract, summed in pairs (not the fp32 chain)
  const bool emulated = set != zs::KernelSet::avx512bf16;
  auto rounded = [](std::vector<float> v) { for (float& x : v) x = zs::bf16_to_f32(zs::f32_to_bf16(x)); return v; };
  const auto B16 = zs::Compute::bf16;
  for (auto [N, I, O] : std::vector<std::array<int, 3>>{{1, 5, 3}, {7, 33, 17}, {50, 64, 40}, {13, 300, 70}, {61, 520, 35}}) {
    auto x = rand_vec((size_t)N * I, 11), w = rand_vec((size_t)O * I, 12), b = rand_vec(O, 13), dout = rand_vec((size_t)N * O, 14);
    auto xr = rounded(x), wr = rounded(w), doutr = rounded(dout);
    std::vector<float> a((size_t)N * O), r((size_t)N * O), a32((size_t)N * O), f32((size_t)N * O), pack(zs::matmul_pack_floats(N, I, O));
    zs::matmul_forward(a.data(), pack.data(), x.data(), w.data(), b.data(), N, I, O, B16);
    zs::matmul_forward_ref(r.data(), x.data(), w.data(), b.data(), N, I, O, B16);
    zs::matmul_forward(a32.data(), pack.data(), xr.data(), wr.data(), b.data(), N, I, O);
    zs::matmul_forward_ref(f32.data(), x.data(), w.data(), b.data(), N, I, O);
    double e = rel_err(a.data(), r.data(), a.size()), from32 = rel_err(a.data(), f32.data(), a.size());
    CHECK(e < 1e-5, "matmul bf16 %dx%dx%d forward rel %g", N, I, O, e);
    CHECK(!emulated || a == a32, "matmul bf16 %dx%dx%d: not the fp32 kernel's bits on rounded operands", N, I, O);
    CHECK(from32 > 1e-4 && from32 < 2e-2, "matmul bf16 %dx%dx%d: rel %g from fp32 (expected bf16 rounding, ~1e-3)", N, I, O, from32);
    // a bf16 weight matrix (a frozen copy's) computing in bf16 gives the same bits as the rounded fp32 one
    std::vector<uint16_t> w16(w.size());
    for (size_t i = 0; i < w.size(); i++) w16[i] = zs::f32_to_bf16(w[i]);
    std::vector<float> a16((size_t)N * O);
    zs::WeightRef wh; wh.h = w16.data();
    zs::matmul_forward(a16.data(), pack.data(), x.data(), wh, b.data(), N, I, O, B16);
    CHECK(a16 == a, "matmul bf16 %dx%dx%d: a bf16 matrix differs from its fp32 twin", N, I, O);
    // prepacked (the sampler's): fp32 weights packed as bf16 panels
    std::vector<uint16_t> wp(zs::matmul_packed_weight_halves(I, O));
    zs::matmul_pack_weight_f32_as_bf16(wp.data(), w.data(), I, O);
    std::vector<float> ap((size_t)N * O);
    zs::matmul_forward_prepacked_bf16(ap.data(), x.data(), wp.data(), b.data(), N, I, O, B16);
    CHECK(ap == a, "matmul bf16 %dx%dx%d: prepacked differs", N, I, O);
    std::vector<float> di1((size_t)N * I), dw1((size_t)O * I), db1(O), di2((size_t)N * I), dw2((size_t)O * I), db2(O);
    std::vector<float> di3((size_t)N * I), dw3((size_t)O * I), db3(O);
    zs::matmul_backward(di1.data(), dw1.data(), db1.data(), pack.data(), dout.data(), x.data(), w.data(), N, I, O, B16);
    zs::matmul_backward_ref(di2.data(), dw2.data(), db2.data(), dout.data(), x.data(), w.data(), N, I, O, B16);
    zs::matmul_backward(di3.data(), dw3.data(), db3.data(), pack.data(), doutr.data(), xr.data(), wr.data(), N, I, O);
    CHECK(rel_err(di1.data(), di2.data(), di1.size()) < 1e-5, "matmul bf16 din");
    CHECK(rel_err(dw1.data(), dw2.data(), dw1.size()) < 1e-5, "matmul bf16 dw");
    CHECK(!emulated || (di1 == di3 && dw1 == dw3), "matmul bf16 %dx%dx%d backward: not the fp32 kernel's bits on rounded operands", N, I, O);
    std::vector<float> di4((size_t)N * I), dw4((size_t)O * I), db4(O);
    zs::matmul_backward(di4.data(), dw4.data(), db4.data(), pack.data(), dout.data(), x.data(), w.data(), N, I, O);
    CHECK(db1 == db4, "matmul bf16 %dx%dx%d: the bias gradient is a column sum, fp32 in both", N, I, O);
    std::printf("    matmul bf16 %dx%dx%d: forward rel %.2e to the bf16 ref, %.2e from fp32\n", N, I, O, e, from32);
  }
}); }

// The kernel sets against each other, bit for bit where they must agree: avx512 is avx2's FMA chain on zmm
// (compute f32 and emulated bf16), avx512-bf16 is avx512 except compute bf16 (vdpbf16ps: the ref's contract
// within 1e-5, the same bits with 1 and 3 threads). Shapes with row, column and odd-k tails, odd panel counts.
int differing(const std::vector<float>& a, const std::vector<float>& b) {
  int n = 0;
  for (size_t i = 0; i < a.size(); i++) n += std::memcmp(&a[i], &b[i], 4) != 0;
  return n;
}

void test_kernel_sets_agree() {
  if (!zs::kernel_set_supported(zs::KernelSet::avx512)) { std::printf("    this CPU runs avx2 only: nothing to compare\n"); return; }
  const zs::KernelSet before = zs::kernel_set();
  const auto B16 = zs::Compute::bf16, F32 = zs::Compute::f32;
  struct Out { std::vector<float> f, b, di, dw, dib, dwb, pf, pb, ph; };
  // tiny: operands near 2^-63, so products and partial sums are subnormal in fp32 (flushed by vdpbf16ps)
  for (auto [N, I, O, tiny] : std::vector<std::array<int, 4>>{{1, 5, 3, 0}, {7, 33, 17, 0}, {50, 64, 40, 0}, {13, 300, 70, 0}, {61, 521, 35, 0}, {100, 257, 48, 0},
                                                              {49, 31, 80, 0}, {7, 33, 17, 1}, {61, 521, 35, 1}}) {
    auto x = rand_vec((size_t)N * I, 21), w = rand_vec((size_t)O * I, 22), b = rand_vec(O, 23), dout = rand_vec((size_t)N * O, 24);
    if (tiny) {
      uint64_t st = 99;
      for (auto* v : {&x, &w, &dout})
        for (float& f : *v) { st = st * 6364136223846793005ULL + 1442695040888963407ULL; f = std::ldexp(f, -62 - (int)((st >> 33) % 6)); }
      std::fill(b.begin(), b.end(), 0.f);
    }
    std::vector<uint16_t> w16(w.size());
    for (size_t i = 0; i < w.size(); i++) w16[i] = zs::f32_to_bf16(w[i]);
    auto run = [&](zs::KernelSet s) {
      zs::set_kernel_set(s);
      Out o;
      std::vector<float> pack(zs::matmul_pack_floats(N, I, O));
      auto sized = [&](size_t n) { return std::vector<float>(n, tiny ? 0.f : 0.25f); };  // backward accumulates into it
      o.f = sized((size_t)N * O); o.b = sized((size_t)N * O); o.pf = sized((size_t)N * O); o.pb = sized((size_t)N * O); o.ph = sized((size_t)N * O);
      o.di = sized((size_t)N * I); o.dw = sized((size_t)O * I); o.dib = sized((size_t)N * I); o.dwb = sized((size_t)O * I);
      zs::matmul_forward(o.f.data(), pack.data(), x.data(), w.data(), b.data(), N, I, O, F32);
      zs::matmul_forward(o.b.data(), pack.data(), x.data(), w.data(), b.data(), N, I, O, B16);
      zs::matmul_backward(o.di.data(), o.dw.data(), nullptr, pack.data(), dout.data(), x.data(), w.data(), N, I, O, F32);
      zs::matmul_backward(o.dib.data(), o.dwb.data(), nullptr, pack.data(), dout.data(), x.data(), w.data(), N, I, O, B16);
      std::vector<float> wp(zs::matmul_packed_weight_floats(I, O));
      zs::matmul_pack_weight(wp.data(), w.data(), I, O);
      zs::matmul_forward_prepacked(o.pf.data(), x.data(), wp.data(), b.data(), N, I, O);
      std::vector<uint16_t> hp(zs::matmul_packed_weight_halves(I, O));
      zs::matmul_pack_weight_f32_as_bf16(hp.data(), w.data(), I, O);
      zs::matmul_forward_prepacked_bf16(o.pb.data(), x.data(), hp.data(), b.data(), N, I, O, B16);
      zs::matmul_pack_weight_bf16(hp.data(), w16.data(), I, O);  // a bf16 copy computing in fp32: widened panels
      zs::matmul_forward_prepacked_bf16(o.ph.data(), x.data(), hp.data(), b.data(), N, I, O, F32);
      return o;
    };
    const Out a2 = run(zs::KernelSet::avx2), a5 = run(zs::KernelSet::avx512);
    CHECK(a2.f == a5.f && a2.di == a5.di && a2.dw == a5.dw && a2.pf == a5.pf && a2.ph == a5.ph, "avx512 %dx%dx%d: compute f32 differs from avx2", N, I, O);
    CHECK(a2.b == a5.b && a2.dib == a5.dib && a2.dwb == a5.dwb && a2.pb == a5.pb, "avx512 %dx%dx%d: emulated bf16 differs from avx2", N, I, O);
    if (!zs::kernel_set_supported(zs::KernelSet::avx512bf16)) { std::printf("    %dx%dx%d: avx512 = avx2 bit for bit (no AVX512-BF16 here)\n", N, I, O); continue; }
    zs::set_threads(1);
    const Out d1 = run(zs::KernelSet::avx512bf16);
    zs::set_threads(3);
    const Out d3 = run(zs::KernelSet::avx512bf16);
    zs::set_threads(2);
    CHECK(a2.f == d1.f && a2.di == d1.di && a2.dw == d1.dw && a2.pf == d1.pf && a2.ph == d1.ph, "avx512-bf16 %dx%dx%d: compute f32 differs from avx2", N, I, O);
    CHECK(d1.b == d3.b && d1.dib == d3.dib && d1.dwb == d3.dwb && d1.pb == d3.pb, "avx512-bf16 %dx%dx%d: compute bf16 differs between 1 and 3 threads", N, I, O);
    CHECK(d1.pb == d1.b, "avx512-bf16 %dx%dx%d: prepacked bf16 panels differ from packed-per-call ones", N, I, O);
    std::vector<float> r((size_t)N * O), di((size_t)N * I, 0.25f), dw((size_t)O * I, 0.25f);
    zs::matmul_forward_ref(r.data(), x.data(), w.data(), b.data(), N, I, O, B16);
    zs::matmul_backward_ref(di.data(), dw.data(), nullptr, dout.data(), x.data(), w.data(), N, I, O, B16);
    const double ef = rel_err(d1.b.data(), r.data(), r.size()), ei = rel_err(d1.dib.data(), di.data(), di.size()), ew = rel_err(d1.dwb.data(), dw.data(), dw.size());
    CHECK(tiny || (ef < 1e-5 && ei < 1e-5 && ew < 1e-5), "avx512-bf16 %dx%dx%d: rel to the bf16 ref %g / %g / %g", N, I, O, ef, ei, ew);
    CHECK(a2.b == d1.b && a2.dib == d1.dib && a2.dwb == d1.dwb && a2.pb == d1.pb, "avx512-bf16 %dx%dx%d%s: compute bf16 differs from the emulation in %d of %zu outputs",
          N, I, O, tiny ? " (subnormal sums)" : "", differing(a2.b, d1.b) + differing(a2.dib, d1.dib) + differing(a2.dwb, d1.dwb), a2.b.size() + a2.dib.size() + a2.dwb.size());
    auto count = [](const std::vector<float>& v, int cls) { int n = 0; for (float f : v) n += std::fpclassify(f) == cls; return n; };
    std::printf("    %dx%dx%d%s: every set the same bits, f32 and bf16 (bf16 rel %.1e/%.1e/%.1e to the ref; forward outputs subnormal in f32 %d, zero in bf16 %d)\n", N, I, O,
                tiny ? " tiny" : "", ef, ei, ew, count(a2.f, FP_SUBNORMAL), count(a2.b, FP_ZERO));
    CHECK(!tiny || count(a2.f, FP_SUBNORMAL) > 0, "the tiny case has no subnormal outputs: it tests nothing");
  }
  if (zs::kernel_set_supported(zs::KernelSet::avx512bf16)) {
    // an odd K's last k pairs with +0 in vdpbf16ps, which turns a -0 sum into +0: the emulation adds the same +0
    const int N = 3, I = 5, O = 4;  // dW sums over N = 3
    std::vector<float> x((size_t)N * I, -1.f), w((size_t)O * I, 1.f), dout((size_t)N * O, 0.f);
    std::vector<float> pack(zs::matmul_pack_floats(N, I, O)), dw2((size_t)O * I, -0.f), dw5((size_t)O * I, -0.f);
    zs::set_kernel_set(zs::KernelSet::avx2);
    zs::matmul_backward(nullptr, dw2.data(), nullptr, pack.data(), dout.data(), x.data(), w.data(), N, I, O, B16);
    zs::set_kernel_set(zs::KernelSet::avx512bf16);
    zs::matmul_backward(nullptr, dw5.data(), nullptr, pack.data(), dout.data(), x.data(), w.data(), N, I, O, B16);
    CHECK(std::memcmp(dw2.data(), dw5.data(), dw2.size() * 4) == 0 && !std::signbit(dw5[0]), "a -0 sum over an odd K: avx2 %g, avx512-bf16 %g", dw2[0], dw5[0]);
    std::printf("    -0 summed over an odd K: +0 in every set\n");
  }
  zs::set_kernel_set(before);
}

void test_rmsnorm_swiglu() {
  const int N = 5, C = 37, F = 19;
  auto x = rand_vec(N * C, 9), w = rand_vec(C, 10), dout = rand_vec(N * C, 11);
  std::vector<float> o1(N * C), o2(N * C), s1(N), s2(N);
  zs::rmsnorm_forward(o1.data(), s1.data(), x.data(), w.data(), N, C, 1e-6f);
  zs::rmsnorm_forward_ref(o2.data(), s2.data(), x.data(), w.data(), N, C, 1e-6f);
  CHECK(rel_err(o1.data(), o2.data(), o1.size()) < 1e-6, "rmsnorm forward");
  std::vector<float> d1(N * C), dw1(C), d2(N * C), dw2(C);
  zs::rmsnorm_backward(d1.data(), dw1.data(), dout.data(), x.data(), s1.data(), w.data(), N, C);
  zs::rmsnorm_backward_ref(d2.data(), dw2.data(), dout.data(), x.data(), s1.data(), w.data(), N, C);
  CHECK(rel_err(d1.data(), d2.data(), d1.size()) < 1e-5 && rel_err(dw1.data(), dw2.data(), C) < 1e-5, "rmsnorm backward");
  auto gu = rand_vec(N * 2 * F, 12), go = rand_vec(N * F, 13);
  std::vector<float> so1(N * F), so2(N * F), g1(N * 2 * F), g2(N * 2 * F);
  zs::swiglu_forward(so1.data(), gu.data(), N, F);
  zs::swiglu_forward_ref(so2.data(), gu.data(), N, F);
  CHECK(rel_err(so1.data(), so2.data(), so1.size()) < 1e-6, "swiglu forward");
  zs::swiglu_backward(g1.data(), go.data(), gu.data(), N, F);
  zs::swiglu_backward_ref(g2.data(), go.data(), gu.data(), N, F);
  CHECK(rel_err(g1.data(), g2.data(), g1.size()) < 1e-5, "swiglu backward");
}

void test_attention_logprob() {
  zs::AttnDims d{4, 2, 16};
  const int qkvw = (d.H + 2 * d.KVH) * d.D;
  std::vector<int> off = {0, 5, 5 + 37, 5 + 37 + 9};
  const int B = 3, N = off[B], Tmax = 37;
  auto qkv = rand_vec((size_t)N * qkvw, 20);
  std::vector<float> out((size_t)N * d.H * d.D), ref((size_t)N * d.H * d.D), lse((size_t)N * d.H);
  const int slices = zs::get_threads();
  std::vector<float> scratch(zs::attention_scratch_floats(Tmax, d.D) * slices);
  zs::attention_forward(out.data(), lse.data(), scratch.data(), qkv.data(), off.data(), B, Tmax, d, slices);
  zs::attention_forward_ref(ref.data(), qkv.data(), off.data(), B, d);
  double e = rel_err(out.data(), ref.data(), out.size());
  CHECK(e < 1e-5, "attention forward rel %g", e);
  const int V = 301;
  auto logits = rand_vec((size_t)N * V, 21, 4.f);
  std::vector<int> tok(N);
  std::vector<uint8_t> start(N, 0);
  for (int i = 0; i < N; i++) tok[i] = (int)(zs::rng_uniform(22, i) * V);
  for (int b = 0; b < B; b++) start[off[b]] = 1;
  std::vector<float> lp1(N), lp2(N), en1(N), en2(N);
  zs::logprob_forward(lp1.data(), en1.data(), logits.data(), tok.data(), start.data(), N, V, 0.7f);
  zs::logprob_forward_ref(lp2.data(), en2.data(), logits.data(), tok.data(), start.data(), N, V, 0.7f);
  CHECK(rel_err(lp1.data(), lp2.data(), N) < 1e-5 && rel_err(en1.data(), en2.data(), N) < 1e-5, "logprob forward");
  std::printf("    attention (B=3, N=%d): rel %.2e\n", N, e);
}

// sample_row against its plain twin on many rows: continuous logits, logits on a coarse grid (many
// exact ties), a peaked row; every temperature/top-k/top-p edge. The tokens must agree unless the
// twin's draw or top-p cut sat within float rounding of an edge (margin < 1e-6): by design for the
// draw u = 1 - 1e-12, and at most 1 in 1000 random draws.
void test_sampling() {
  int rows = 0, ambiguous = 0;
  double worst_lp = 0;
  // V = 20011: top-p alone sorts only the candidates of its prefix there (sampling.cc), flat and peaked rows
  for (int V : {5, 64, 513, 20011}) {
    const bool big = V > 1000;
    for (int kind = 0; kind < 3; kind++) {
      std::vector<float> z = rand_vec(V, 30 + V + kind, 5.f);
      if (kind == 1) for (float& x : z) x = std::round(x * 2) / 2;  // ties
      if (kind == 2) z[V / 3] += 12.f;                              // one token holds nearly all mass
      std::vector<int> idx(V);
      std::vector<float> prob(V);
      for (float T : {0.f, 0.3f, 1.f, 1.7f})
        for (int top_k : {-1, 0, 1, 2, 7, V - 1, V, V + 5})
          for (float top_p : {1.f, 0.999f, 0.9f, 0.5f, 0.1f, 1e-6f})
            for (int k = 0; k < 12; k++) {
              if (big && (T == 0.f || T == 1.7f || (top_k != 0 && top_k != 7) || top_p == 1e-6f || k > 5)) continue;
              zs::SampleSettings s{T, top_p, top_k};
              double u = k == 0 ? 0.0 : k == 1 ? 1.0 - 1e-12 : zs::rng_uniform(31 + V, rows * 16 + k);
              float lp1 = 0, lp2 = 0;
              double margin;
              int t1 = zs::sample_row(&lp1, idx.data(), prob.data(), z.data(), V, s, u);
              int t2 = zs::sample_row_ref(&lp2, z.data(), V, s, u, &margin);
              rows++;
              if (t1 != t2) {
                CHECK(margin < 1e-6, "V=%d kind %d T=%g top_p=%g top_k=%d u=%.17g: token %d, ref %d (margin %g)", V, kind, T,
                      top_p, top_k, u, t1, t2, margin);
                if (k > 1) ambiguous++;  // u = 1 - 1e-12 lands within rounding of the last edge by design
                continue;
              }
              worst_lp = std::fmax(worst_lp, std::fabs(lp1 - lp2) / std::fmax(1.0, std::fabs(lp2)));
              CHECK(std::fabs(lp1 - lp2) <= 1e-5 * std::fmax(1.0, std::fabs(lp2)), "V=%d T=%g: log-prob %.9g, ref %.9g", V, T, lp1, lp2);
            }
    }
  }
  std::printf("    %d draws: tokens equal in all but %d random draws within rounding of an edge; log-prob worst rel %.2e\n",
              rows, ambiguous, worst_lp);
  CHECK(ambiguous * 1000 <= rows, "%d of %d draws disagreed within rounding of an edge", ambiguous, rows);
}

// ---- whole model: thread-count invariance and concurrent callers ------------------------------


struct ModelRun {
  std::vector<float> logits, grads, sampled_lp;
  std::vector<int> sampled;
  double loss = 0;
};

// One model's worth of calls: logits, a GRPO accumulate, a sampling call; pure function of seed and compute.
ModelRun run_model(uint64_t seed, zs::Compute cmp = zs::Compute::f32) {
  zs::Model m(tiny_config());
  m.compute = cmp;
  m.init_random(seed, 0.05f);
  std::vector<int> lens = {9, 23, 4, 31};
  int N = 0;
  for (int l : lens) N += l;
  std::vector<int> tok(N);
  for (int i = 0; i < N; i++) tok[i] = (int)(zs::rng_uniform(seed + 1, i) * 97);
  ModelRun r;
  r.logits.resize((size_t)N * 97);
  zs::model_logits(m, r.logits.data(), tok.data(), lens.data(), (int)lens.size());
  std::vector<float> mask(N, 1.f), adv(N), old_lp(N), ref_lp(N);
  zs::model_logprobs(m, old_lp.data(), tok.data(), lens.data(), (int)lens.size(), 1.f);
  for (int i = 0; i < N; i++) { adv[i] = (float)(zs::rng_uniform(seed + 2, i) - 0.5); ref_lp[i] = old_lp[i] - 0.01f; }
  zs::TrainBatch b{tok.data(), lens.data(), (int)lens.size(), mask.data(), adv.data(), old_lp.data(), ref_lp.data()};
  zs::LossSpec s;
  s.kind = zs::LossKind::GRPO; s.kl_coef = 0.01f; s.global_tokens = N; s.global_seqs = (double)lens.size();
  std::fill(m.grads.begin(), m.grads.end(), 0.f);
  r.loss = zs::model_accumulate(m, b, s).loss;
  r.grads = m.grads;
  const int R = 3, max_new = 12;
  std::vector<int> prompts = {1, 2, 3, 4, 5, 6, 7, 8, 9}, plens = {3, 3, 3};
  std::vector<uint64_t> seeds = {seed, seed + 1, seed + 2};
  std::vector<int> stop = {0};
  zs::SampleRequest req{prompts.data(), plens.data(), R, seeds.data(), {1.f, 1.f, -1}, max_new, stop.data(), 1};
  r.sampled.resize(R * max_new);
  r.sampled_lp.resize(R * max_new);
  std::vector<int> olens(R), fin(R);
  zs::SampleOutput out{r.sampled.data(), r.sampled_lp.data(), olens.data(), fin.data()};
  zs::model_sample(m, req, out);
  return r;
}

bool same_run(const ModelRun& a, const ModelRun& b) {
  return a.loss == b.loss && same_bits(a.logits.data(), b.logits.data(), a.logits.size()) &&
         same_bits(a.grads.data(), b.grads.data(), a.grads.size()) && a.sampled == b.sampled &&
         same_bits(a.sampled_lp.data(), b.sampled_lp.data(), a.sampled_lp.size());
}

void test_model_threads_and_callers() {
  // the other model computes in bf16 (model.compute_dtype): the same guarantees, and callers of both at once
  const auto B16 = zs::Compute::bf16;
  zs::set_threads(1);
  ModelRun one = run_model(5), other = run_model(6, B16);
  zs::set_threads(2);
  ModelRun two = run_model(5);
  CHECK(same_run(one, two), "1 and 2 threads gave different bits");
  CHECK(same_run(other, run_model(6, B16)), "compute bf16: 1 and 2 threads gave different bits");
  CHECK(!same_run(run_model(6), other), "compute bf16 gave the fp32 bits: nothing was rounded");
  zs::set_threads(3);
  CHECK(same_run(one, run_model(5)), "1 and 3 threads gave different bits");
  CHECK(same_run(other, run_model(6, B16)), "compute bf16: 1 and 3 threads gave different bits");
  zs::set_threads(2);
  // several callers at once, each with its own model (as generators and the updater's AsyncWorkers)
  const int reps = std::max(2, (int)(g_seconds * 2));
  std::atomic<int> bad{0};
  std::atomic<bool> done{false};
  // the thread count changes under the callers' feet: per-thread scratch must still fit
  std::thread flipper([&] {
    for (int i = 0; !done.load(); i++) {
      zs::set_threads(1 + i % 3);
      std::this_thread::sleep_for(std::chrono::milliseconds(3));
    }
  });
  std::vector<std::thread> ts;
  for (int c = 0; c < g_callers; c++)
    ts.emplace_back([&, c] {
      for (int k = 0; k < reps; k++) {
        bool even = (c + k) % 2 == 0;
        if (!same_run(even ? run_model(5) : run_model(6, B16), even ? one : other)) bad++;
      }
    });
  for (auto& t : ts) t.join();
  done = true;
  flipper.join();
  zs::set_threads(2);
  CHECK(bad == 0, "%d of %d concurrent model runs differed from the sequential ones", bad.load(), g_callers * reps);
  std::printf("    bit-identical (compute f32 and bf16) with 1, 2, 3 threads and %d concurrent callers x %d runs while the thread count changed (loss %.9g)\n", g_callers,
              reps, one.loss);
}


struct Test { const char* name; void (*fn)(); };
const Test kTests[] = {
    {"pool_stress", test_pool_stress},
    {"pool_resize_under_load", test_pool_resize_under_load},
    {"matmul", test_matmul},
    {"round_bf16", test_round_bf16},
    {"matmul_bf16", test_matmul_bf16},
    {"kernel_sets_agree", test_kernel_sets_agree},
    {"rmsnorm_swiglu", test_rmsnorm_swiglu},
    {"attention_logprob", test_attention_logprob},
    {"sampling", test_sampling},
    {"model_threads_and_callers", test_model_threads_and_callers},
    {"sample_pinned", test_sample_pinned},
    {"sample_steps", test_sample_steps},
    {"sample_vs_no_cache", test_sample_vs_no_cache},
    {"loss_off_policy", test_loss_off_policy},
    {"entropy_backward", test_entropy_backward},
};

}  // namespace

int main(int argc, char** argv) {
  std::string filter;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--seconds" && i + 1 < argc) g_seconds = std::atof(argv[++i]);
    else if (a == "--callers" && i + 1 < argc) g_callers = std::atoi(argv[++i]);
    else if (a == "--filter" && i + 1 < argc) filter = argv[++i];
    else { std::fprintf(stderr, "unknown argument %s\n", a.c_str()); return 2; }
  }
  // A hang is a failure with a message, not a stuck CI job.
  double budget = 120 + 20 * g_seconds;
  std::thread([budget] {
    std::this_thread::sleep_for(std::chrono::duration<double>(budget));
    std::printf("HANG: the native tests did not finish in %.0f s (a parallel_for that never returns?)\n", budget);
    std::fflush(stdout);
    std::_Exit(3);
  }).detach();
  zs::set_threads(2);
  int ran = 0;
  for (const Test& t : kTests) {
    if (!filter.empty() && std::string(t.name).find(filter) == std::string::npos) continue;
    ran++;
    auto t0 = std::chrono::steady_clock::now();
    std::printf("  %s\n", t.name);
    std::fflush(stdout);
    try {
      t.fn();
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      std::printf("ok %s (%.0f ms)\n", t.name, ms);
    } catch (const std::exception& e) {
      g_failed++;
      std::printf("not ok %s: %s\n", t.name, e.what());
    }
    std::fflush(stdout);
  }
  std::printf("native tests: %d ok, %d not ok\n", ran - g_failed, g_failed);
  return g_failed ? 1 : 0;
}
