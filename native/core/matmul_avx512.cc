// The avx512 / avx512-bf16 GEMM blocks (see matmul_avx512.h). Everything below the target pragma is this
// file's own (static or in an anonymous namespace, no library templates instantiated), so no AVX-512 code
// can reach a CPU without it through a shared inline function; the callers check kernel_set() first.
#include "matmul_avx512.h"

#include <immintrin.h>

#include <chrono>

// Timing stays outside the AVX-512 region (library templates instantiate here, with the default target).
static double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

#pragma GCC push_options
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12: _mm512_undefined_* in the shift intrinsics
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")

namespace zs::mm {
namespace {

inline int imin(int a, int b) { return a < b ? a : b; }
inline __mmask16 cols_mask(int n) { return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n < 0 ? 0 : n)) - 1); }

// One or two panels' worth of C rows: c0 (panel p), c1 (panel p+1).
template <int M, bool TWO>
struct Acc {
  __m512 c0[M], c1[M];
  inline void init(const float* C, long ldc, bool load, __mmask16 m0, __mmask16 m1) {
#pragma GCC unroll 8
    for (int r = 0; r < M; r++) {
      c0[r] = load ? _mm512_maskz_loadu_ps(m0, C + r * ldc) : _mm512_setzero_ps();
      if (TWO) c1[r] = load ? _mm512_maskz_loadu_ps(m1, C + r * ldc + NR) : _mm512_setzero_ps();
    }
  }
  inline void store(float* C, long ldc, __mmask16 m0, __mmask16 m1, bool pad = false) {
    if (pad) {
#pragma GCC unroll 8
      for (int r = 0; r < M; r++) {
        c0[r] = _mm512_add_ps(c0[r], _mm512_setzero_ps());
        if (TWO) c1[r] = _mm512_add_ps(c1[r], _mm512_setzero_ps());
      }
    }
#pragma GCC unroll 8
    for (int r = 0; r < M; r++) {
      _mm512_mask_storeu_ps(C + r * ldc, m0, c0[r]);
      if (TWO) _mm512_mask_storeu_ps(C + r * ldc + NR, m1, c1[r]);
    }
  }
  // c[r] += a[r * as] * b for the tile's column k (a: the tile's values of that k, as apart: 1 packed, a row unpacked)
  inline void fma(const float* a, __m512 b0, __m512 b1, long as = 1) {
#pragma GCC unroll 8
    for (int r = 0; r < M; r++) {
      const __m512 av = _mm512_set1_ps(a[r * as]);
      c0[r] = _mm512_fmadd_ps(av, b0, c0[r]);
      if (TWO) c1[r] = _mm512_fmadd_ps(av, b1, c1[r]);
    }
  }
};

// fp32 panels: for each k in order, one FMA per output (the avx2 kernel's chain).
template <int M, bool TWO>
void kernel_f32(float* C, long ldc, const float* Ap, const float* B0, const float* B1, int kc, bool load, __mmask16 m0, __mmask16 m1, bool pad) {
  Acc<M, TWO> acc;
  acc.init(C, ldc, load, m0, m1);
  for (int k = 0; k < kc; k++) {
    const __m512 b0 = _mm512_loadu_ps(B0 + k * NR), b1 = TWO ? _mm512_loadu_ps(B1 + k * NR) : b0;
    acc.fma(Ap + k * MR, b0, b1);
  }
  acc.store(C, ldc, m0, m1, pad);
}

// fp32 A read in place (row-major, unpacked): a[r * lda + k]; the same chain as kernel_f32, so the same bits.
template <int M, bool TWO>
void kernel_f32_rowmajor(float* C, long ldc, const float* A, long lda, const float* B0, const float* B1, int kc, bool load, __mmask16 m0, __mmask16 m1, bool pad) {
  Acc<M, TWO> acc;
  acc.init(C, ldc, load, m0, m1);
  for (int k = 0; k < kc; k++) {
    const __m512 b0 = _mm512_loadu_ps(B0 + k * NR), b1 = TWO ? _mm512_loadu_ps(B1 + k * NR) : b0;
    acc.fma(A + k, b0, b1, lda);
  }
  acc.store(C, ldc, m0, m1, pad);
}

// bf16 pair panels widened: a dword holds (k even) << 16 | (k odd), so the even k's fp32 value is its high
// half and the odd k's is the dword shifted left; then the same FMA chain, k by k.
template <int M, bool TWO>
void kernel_widen(float* C, long ldc, const float* Ap, const uint16_t* B0, const uint16_t* B1, int kc, bool load, __mmask16 m0, __mmask16 m1, bool pad) {
  Acc<M, TWO> acc;
  acc.init(C, ldc, load, m0, m1);
  const __m512i hi = _mm512_set1_epi32((int)0xffff0000u);
  int k = 0;
  for (; k + 2 <= kc; k += 2) {
    const __m512i v0 = _mm512_loadu_si512(B0 + k * NR), v1 = TWO ? _mm512_loadu_si512(B1 + k * NR) : v0;
    acc.fma(Ap + k * MR, _mm512_castsi512_ps(_mm512_and_si512(v0, hi)), _mm512_castsi512_ps(_mm512_and_si512(v1, hi)));
    acc.fma(Ap + (k + 1) * MR, _mm512_castsi512_ps(_mm512_slli_epi32(v0, 16)), _mm512_castsi512_ps(_mm512_slli_epi32(v1, 16)));
  }
  if (k < kc) {
    const __m512i v0 = _mm512_loadu_si512(B0 + k * NR), v1 = TWO ? _mm512_loadu_si512(B1 + k * NR) : v0;
    acc.fma(Ap + k * MR, _mm512_castsi512_ps(_mm512_and_si512(v0, hi)), _mm512_castsi512_ps(_mm512_and_si512(v1, hi)));
  }
  acc.store(C, ldc, m0, m1, pad);
}

// vdpbf16ps: per output lane, c += (high halves' product), then c += (low halves' product), each rounded
// (Intel's definition; measured on Zen 4: 100,000 random cases, all equal to that order). With k in the high
// half and k+1 in the low one, that is the FMA chain's c = fma(a(k), b(k), c); c = fma(a(k+1), b(k+1), c)
// (a product of two bf16 values is exact in fp32), so the bits are the emulated sets' — except that the
// instruction treats subnormal inputs as zero and flushes subnormal results (|x| < 2^-126), and an odd k's
// missing partner adds +0 (a -0 sum becomes +0). A as pairs: Ap[kp][MR] = bf16(a(2kp)) << 16 | bf16(a(2kp+1)).
template <int M, bool TWO>
void kernel_dp(float* C, long ldc, const uint32_t* Ap, const uint16_t* B0, const uint16_t* B1, int kpairs, bool load, __mmask16 m0, __mmask16 m1, bool) {
  Acc<M, TWO> acc;
  acc.init(C, ldc, load, m0, m1);
  for (int kp = 0; kp < kpairs; kp++) {
    const __m512bh b0 = (__m512bh)_mm512_loadu_si512(B0 + kp * 2 * NR);
    const __m512bh b1 = TWO ? (__m512bh)_mm512_loadu_si512(B1 + kp * 2 * NR) : b0;
    const uint32_t* a = Ap + kp * MR;
#pragma GCC unroll 8
    for (int r = 0; r < M; r++) {
      const __m512bh av = (__m512bh)_mm512_set1_epi32((int)a[r]);
      acc.c0[r] = _mm512_dpbf16_ps(acc.c0[r], av, b0);
      if (TWO) acc.c1[r] = _mm512_dpbf16_ps(acc.c1[r], av, b1);
    }
  }
  acc.store(C, ldc, m0, m1);
}

// M (1..6) and TWO as template arguments: the accumulators stay in registers.
#define ZS_ROWS(NAME, ...)                                                                                  \
  template <bool TWO, class... Args>                                                                        \
  inline void NAME##_rows(int m, Args... args) {                                                            \
    switch (m) {                                                                                            \
      case 6: NAME<6, TWO>(args...); break;                                                                 \
      case 5: NAME<5, TWO>(args...); break;                                                                 \
      case 4: NAME<4, TWO>(args...); break;                                                                 \
      case 3: NAME<3, TWO>(args...); break;                                                                 \
      case 2: NAME<2, TWO>(args...); break;                                                                 \
      default: NAME<1, TWO>(args...); break;                                                                \
    }                                                                                                       \
  }
ZS_ROWS(kernel_f32)
ZS_ROWS(kernel_f32_rowmajor)
ZS_ROWS(kernel_widen)
ZS_ROWS(kernel_dp)
#undef ZS_ROWS

// A's tiles as bf16 pairs for vdpbf16ps, k even in the high half (the values are already rounded to bf16:
// their low halves are zero, so k even is its own bits and k odd its bits shifted right).
thread_local uint32_t a_pairs[(RB_WIDE / MR) * (KC / 2) * MR];

void pack_pairs(const float* a, int tiles, int kc) {
  const int kpairs = (kc + 1) / 2;
  const __m256i hi = _mm256_set1_epi32((int)0xffff0000u);
  for (int t = 0; t < tiles; t++) {
    const uint32_t* src = (const uint32_t*)(a + (size_t)t * KC * MR);
    uint32_t* dst = a_pairs + (size_t)t * (KC / 2) * MR;
    for (int kp = 0; kp < kpairs; kp++) {
      const __m256i even = _mm256_maskz_loadu_epi32(0x3f, src + 2 * kp * MR);
      const __m256i odd = 2 * kp + 1 < kc ? _mm256_maskz_loadu_epi32(0x3f, src + (2 * kp + 1) * MR) : _mm256_setzero_si256();
      _mm256_mask_storeu_epi32(dst + kp * MR, 0x3f, _mm256_or_si256(_mm256_and_si256(even, hi), _mm256_srli_epi32(odd, 16)));
    }
  }
}

}  // namespace

// The block's micro-tiles: panels two at a time (the last alone when their count is odd), rows MR at a time;
// tile(two, m, c, r, B0, B1, m0, m1) multiplies m rows from row r into c, column tails masked by m0 / m1.
template <class TB, class Tile>
inline void for_tiles(float* C, long ldc, int rows, const TB* Bp, long pstride, int p0, int p1, int Ncols, Tile tile) {
  for (int p = p0; p < p1; p += 2) {
    const bool two = p + 1 < p1;
    const __mmask16 m0 = cols_mask(Ncols - p * NR), m1 = two ? cols_mask(Ncols - (p + 1) * NR) : 0;
    const TB* B0 = Bp + (long)p * pstride;
    const TB* B1 = two ? B0 + pstride : B0;
    for (int r = 0; r < rows; r += MR) tile(two, imin(MR, rows - r), C + (long)r * ldc + p * NR, r, B0, B1, m0, m1);
  }
}

void block_f32(float* C, long ldc, const float* a, int rows, const float* Bp, long pstride, int p0, int p1, int Ncols, int kc, bool load, bool pad) {
  for_tiles(C, ldc, rows, Bp, pstride, p0, p1, Ncols, [&](bool two, int m, float* c, int r, const float* B0, const float* B1, __mmask16 m0, __mmask16 m1) {
    const float* ap = a + (size_t)(r / MR) * KC * MR;
    if (two) kernel_f32_rows<true>(m, c, ldc, ap, B0, B1, kc, load, m0, m1, pad);
    else kernel_f32_rows<false>(m, c, ldc, ap, B0, B1, kc, load, m0, m1, pad);
  });
}

void block_f32_rowmajor(float* C, long ldc, const float* A, long lda, int rows, const float* Bp, long pstride, int p0, int p1, int Ncols, int kc, bool load) {
  for_tiles(C, ldc, rows, Bp, pstride, p0, p1, Ncols, [&](bool two, int m, float* c, int r, const float* B0, const float* B1, __mmask16 m0, __mmask16 m1) {
    const float* ap = A + (long)r * lda;
    if (two) kernel_f32_rowmajor_rows<true>(m, c, ldc, ap, lda, B0, B1, kc, load, m0, m1, false);
    else kernel_f32_rowmajor_rows<false>(m, c, ldc, ap, lda, B0, B1, kc, load, m0, m1, false);
  });
}

void block_bf16(float* C, long ldc, const float* a, int rows, const uint16_t* Bp, long pstride, int p0, int p1, int Ncols, int kc, bool load,
                bool dp, bool pad) {
  if (dp) pack_pairs(a, (rows + MR - 1) / MR, kc);
  for_tiles(C, ldc, rows, Bp, pstride, p0, p1, Ncols, [&](bool two, int m, float* c, int r, const uint16_t* B0, const uint16_t* B1, __mmask16 m0, __mmask16 m1) {
    if (dp) {
      const uint32_t* ap = a_pairs + (size_t)(r / MR) * (KC / 2) * MR;
      if (two) kernel_dp_rows<true>(m, c, ldc, ap, B0, B1, (kc + 1) / 2, load, m0, m1, pad);
      else kernel_dp_rows<false>(m, c, ldc, ap, B0, B1, (kc + 1) / 2, load, m0, m1, pad);
    } else {
      const float* ap = a + (size_t)(r / MR) * KC * MR;
      if (two) kernel_widen_rows<true>(m, c, ldc, ap, B0, B1, kc, load, m0, m1, pad);
      else kernel_widen_rows<false>(m, c, ldc, ap, B0, B1, kc, load, m0, m1, pad);
    }
  });
}

// 12 independent chains of one instruction (step), `flops` per instruction; GFLOP/s of this thread.
template <class Step>
double probe_chains(long iters, double flops, Step step) {
  __m512 a[12];
  for (int k = 0; k < 12; k++) a[k] = _mm512_set1_ps((float)k);
  const double t0 = now_s();
  for (long it = 0; it < iters; it++)
#pragma GCC unroll 12
    for (int k = 0; k < 12; k++) a[k] = step(a[k]);
  const double s = now_s() - t0;
  __m512 sum = a[0];
  for (int k = 1; k < 12; k++) sum = _mm512_add_ps(sum, a[k]);
  alignas(64) float out[16];
  _mm512_store_ps(out, sum);
  volatile float sink = out[0];
  (void)sink;
  return (double)iters * 12 * flops / s / 1e9;
}

double probe_fma512(long iters) {
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
  return probe_chains(iters, 16 * 2, [&](__m512 v) { return _mm512_fmadd_ps(v, m, c); });
}

double probe_dpbf16(long iters) {
  const __m512bh x = (__m512bh)_mm512_set1_epi32(0x3f803f80), y = (__m512bh)_mm512_set1_epi32(0x33d633d6);  // (1, 1) . (1e-7, 1e-7)
  return probe_chains(iters, 16 * 4, [&](__m512 v) { return _mm512_dpbf16_ps(v, x, y); });
}

}  // namespace zs::mm

#pragma GCC diagnostic pop
#pragma GCC pop_options
