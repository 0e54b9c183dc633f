// The linear layers' GEMM under every kernel set this CPU runs: each entry against its _ref twin (fp32 and
// bf16 compute), the vectorised bf16 rounding against the scalar one, and the sets against each other bit for
// bit (kernel_sets_agree: tails, subnormal sums, the -0 of an odd K). Registered in main.cc.
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <vector>

#include "common.h"
#include "harness.h"
#include "kernelset.h"
#include "matmul.h"
#include "threadpool.h"

namespace zst {
namespace {

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

void matmul_vs_ref() { for_each_set([](zs::KernelSet) {
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
void round_bf16_vs_scalar() {
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

void matmul_bf16_vs_ref() { for_each_set([](zs::KernelSet set) {
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

void kernel_sets_agree() {
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

// A weight packed once (matmul_pack_forward / matmul_pack_backward_din: the LM head over chunks of rows) gives
// the bits of the products that pack for themselves, for fp32 and bf16 weights, compute f32 and bf16, every
// set, odd K and column tails; and the same panels serve several row chunks.
void packed_once_vs_packing() { for_each_set([](zs::KernelSet) {
  for (auto [N, I, O] : std::vector<std::array<int, 3>>{{1, 5, 3}, {7, 33, 17}, {50, 64, 40}, {13, 301, 70}}) {
    auto x = rand_vec((size_t)N * I, 11), w = rand_vec((size_t)O * I, 12), dout = rand_vec((size_t)N * O, 13);
    std::vector<uint16_t> wh(w.size());
    for (size_t i = 0; i < w.size(); i++) wh[i] = zs::f32_to_bf16(w[i]);
    std::vector<float> ws(zs::matmul_pack_floats(N, I, O)), once(zs::matmul_weight_pack_floats(I, O));
    for (zs::Compute c : {zs::Compute::f32, zs::Compute::bf16}) {
      for (int bf16w = 0; bf16w < 2; bf16w++) {
        zs::WeightRef ref;
        if (bf16w) ref.h = wh.data(); else ref.f = w.data();
        std::vector<float> a((size_t)N * O), b((size_t)N * O, 7.f);
        zs::matmul_forward(a.data(), ws.data(), x.data(), ref, nullptr, N, I, O, c);
        zs::matmul_pack_forward(once.data(), ref, I, O, c);
        for (int r0 = 0; r0 < N; r0 += 4)  // chunks of 4 rows, as the head's
          zs::matmul_forward_packed(b.data() + (size_t)r0 * O, once.data(), x.data() + (size_t)r0 * I, std::min(4, N - r0), I, O, c);
        CHECK(std::memcmp(a.data(), b.data(), a.size() * 4) == 0, "forward packed once %dx%dx%d (%s weights, compute %s) differs",
              N, I, O, bf16w ? "bf16" : "f32", c == zs::Compute::bf16 ? "bf16" : "f32");
      }
      std::vector<float> d1((size_t)N * I, 0.5f), d2((size_t)N * I, 0.5f);
      zs::matmul_backward(d1.data(), nullptr, nullptr, ws.data(), dout.data(), x.data(), w.data(), N, I, O, c);
      zs::matmul_pack_backward_din(once.data(), w.data(), I, O, c);
      for (int r0 = 0; r0 < N; r0 += 4)
        zs::matmul_backward_din_packed(d2.data() + (size_t)r0 * I, once.data(), dout.data() + (size_t)r0 * O, std::min(4, N - r0), I, O, c);
      CHECK(std::memcmp(d1.data(), d2.data(), d1.size() * 4) == 0, "din packed once %dx%dx%d (compute %s) differs", N, I, O,
            c == zs::Compute::bf16 ? "bf16" : "f32");
    }
  }
  std::printf("    forward and din from panels packed once: the packing products' bits (f32/bf16 weights and compute)\n");
}); }

// Row blocks of RB_WIDE rows (B larger than the threshold: Qwen2.5's large weights) give the bits of RB rows, for
// every product, compute and set; the threshold is lowered so that test-sized shapes take that path.
void wide_row_blocks_agree() { for_each_set([](zs::KernelSet) {
  for (auto [N, I, O] : std::vector<std::array<int, 3>>{{49, 40, 33}, {200, 64, 48}, {397, 301, 70}, {600, 96, 20}}) {
    auto x = rand_vec((size_t)N * I, 21), w = rand_vec((size_t)O * I, 22), dout = rand_vec((size_t)N * O, 23);
    std::vector<float> ws(zs::matmul_pack_floats(N, I, O));
    for (zs::Compute c : {zs::Compute::f32, zs::Compute::bf16}) {
      std::vector<float> y[2], dx[2], dw[2];
      for (int wide = 0; wide < 2; wide++) {
        const size_t before = zs::matmul_set_wide_b_bytes(wide ? 0 : SIZE_MAX);
        y[wide].assign((size_t)N * O, 0.f); dx[wide].assign((size_t)N * I, 0.25f); dw[wide].assign((size_t)O * I, -0.5f);
        zs::matmul_forward(y[wide].data(), ws.data(), x.data(), w.data(), nullptr, N, I, O, c);
        zs::matmul_backward(dx[wide].data(), dw[wide].data(), nullptr, ws.data(), dout.data(), x.data(), w.data(), N, I, O, c);
        zs::matmul_set_wide_b_bytes(before);
      }
      const char* cn = c == zs::Compute::bf16 ? "bf16" : "f32";
      CHECK(std::memcmp(y[0].data(), y[1].data(), y[0].size() * 4) == 0, "forward %dx%dx%d compute %s: wide row blocks differ", N, I, O, cn);
      CHECK(std::memcmp(dx[0].data(), dx[1].data(), dx[0].size() * 4) == 0, "dX %dx%dx%d compute %s: wide row blocks differ", N, I, O, cn);
      CHECK(std::memcmp(dw[0].data(), dw[1].data(), dw[0].size() * 4) == 0, "dW %dx%dx%d compute %s: wide row blocks differ", N, I, O, cn);
    }
  }
  std::printf("    row blocks of 192 rows give the bits of 48 (forward, dX, dW; compute f32 and bf16)\n");
}); }

}  // namespace

void test_matmul_wide_rows() { wide_row_blocks_agree(); }
void test_matmul_packed_once() { packed_once_vs_packing(); }
void test_matmul() { matmul_vs_ref(); }
void test_round_bf16() { round_bf16_vs_scalar(); }
void test_matmul_bf16() { matmul_bf16_vs_ref(); }
void test_kernel_sets_agree() { kernel_sets_agree(); }

}  // namespace zst
