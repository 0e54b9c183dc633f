// B's panels for the GEMM (matmul.cc's only): fp32 [k][16], or bf16 in the avx2 set's column order or the wide
// sets' k pairs, packed from a row-major or transposed source, in parallel over panels. Internal to matmul.cc
// (its definitions live in an anonymous namespace, one copy for the one file that includes it).
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "common.h"
#include "matmul_avx512.h"
#include "threadpool.h"

namespace zs {
// Eight fp32 values' bf16 bits (nearest, ties to even; a NaN stays a quiet NaN: common.h's f32_to_bf16), in the
// low 16 bits of each lane.
static inline __m256i round_bf16_bits(__m256i u) {
  const __m256i r = _mm256_add_epi32(u, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1))));
  const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)), _mm256_set1_epi32(0x7f800000));
  return _mm256_srli_epi32(_mm256_blendv_epi8(r, _mm256_or_si256(u, _mm256_set1_epi32(0x00400000)), nan), 16);
}

namespace {

using mm::NR;

// Elements from one panel to the next: K rows of 16, and for the wide sets' bf16 panels K rounded up to k pairs.
template <class TB>
inline long panel_stride(int K, bool wide) { return (long)(sizeof(TB) == 2 && wide ? K + (K & 1) : K) * NR; }

// One element of a panel row: an fp32 panel takes fp32 or bf16 (widened, exact); a bf16 panel takes bf16
// at load_panel_row's column order: column j at (j & 3) | (j & 4) << 1 | (j & 8) >> 1.
inline void put(float* d, int j, float v) { d[j] = v; }
inline void put(float* d, int j, uint16_t h) { d[j] = bf16_to_f32(h); }
inline void put(uint16_t* d, int j, uint16_t h) { d[(j & 3) | (j & 4) << 1 | (j & 8) >> 1] = h; }
inline void put(uint16_t* d, int j, float v) { put(d, j, f32_to_bf16(v)); }  // compute bf16: rounded as packed

// 16 contiguous fp32 values as one bf16 panel row (compute bf16): packus lays the two halves' bits out per
// 128-bit lane as [0-3, 8-11, 4-7, 12-15], put's column order.
inline void pack_row_bf16(uint16_t* d, const float* s) {
  const __m256i lo = round_bf16_bits(_mm256_loadu_si256((const __m256i*)s)), hi = round_bf16_bits(_mm256_loadu_si256((const __m256i*)(s + 8)));
  _mm256_storeu_si256((__m256i*)d, _mm256_packus_epi32(lo, hi));
}

// Bp[p][k][j] = B(k, p*16+j) where B(k,j) = src[k*sk + j*sj]; zero past Ncols.
// r[i] (8 floats each) transposed in place: r[j][i] = old r[i][j].
inline void transpose8x8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]), t2 = _mm256_unpacklo_ps(r[2], r[3]);
  const __m256 t3 = _mm256_unpackhi_ps(r[2], r[3]), t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE), u2 = _mm256_shuffle_ps(t1, t3, 0x44);
  const __m256 u3 = _mm256_shuffle_ps(t1, t3, 0xEE), u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20); r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20); r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31); r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31); r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// A full panel's k-rows k0..k0+7 from a source whose rows run along k (B(k, j) = src[k + j*sj]: the forward's
// weight, w[o*I + i]): t[r][j] = B(k0 + r, j0 + j), by two 8x8 transposes (was: value by value).
inline void gather_rows8(float t[8][16], const float* src, long sj, int j0, int k0) {
  for (int h = 0; h < 2; h++) {
    __m256 r[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + (long)(j0 + 8 * h + i) * sj + k0);
    transpose8x8(r);
    for (int i = 0; i < 8; i++) _mm256_store_ps(&t[i][8 * h], r[i]);
  }
}

// A full panel from a transposed source, 8 k-rows at a time (gather_rows8), each block handed to row(k, t);
// returns the first k left for the caller's row-by-row loop (K's tail, or 0 when the source is not transposed).
template <class TS, class Row>
inline int transposed_blocks(const TS* src, long sk, long sj, int j0, int nc, int K, Row row) {
  int k = 0;
  if constexpr (sizeof(TS) == 4) {
    if (sk == 1 && sj != 1 && nc == NR) {
      alignas(32) float t[8][16];
      for (; k + 8 <= K; k += 8) {
        gather_rows8(t, (const float*)src, sj, j0, k);
        row(k, t);
      }
    }
  }
  return k;
}

// One pair row of the wide sets' bf16 panels from two rows of 16 fp32 values (s1 null: k odd past K).
inline void pair_row_bf16(uint16_t* d, const float* s0, const float* s1) {
  const __m256i z = _mm256_setzero_si256();
  for (int h = 0; h < 2; h++) {
    const __m256i e = round_bf16_bits(_mm256_loadu_si256((const __m256i*)(s0 + 8 * h)));
    const __m256i o = s1 ? round_bf16_bits(_mm256_loadu_si256((const __m256i*)(s1 + 8 * h))) : z;
    _mm256_storeu_si256((__m256i*)(d + 16 * h), _mm256_or_si256(_mm256_slli_epi32(e, 16), o));
  }
}

// bf16 panels of the wide sets: k pairs, one dword per column holding k even << 16 | k odd (vdpbf16ps
// multiplies the high halves first: matmul_avx512.cc; the widening kernel splits it with a mask and a shift);
// zero past K.
inline uint16_t half_of(float v) { return f32_to_bf16(v); }
inline uint16_t half_of(uint16_t h) { return h; }
template <class TS>
void pack_b_pairs(uint16_t* Bp, const TS* src, long sk, long sj, int K, int Ncols) {
  const int panels = (Ncols + NR - 1) / NR;
  const long stride = panel_stride<uint16_t>(K, true);
  parallel_for(panels, [&](int p, int) {
    uint16_t* dst = Bp + (size_t)p * stride;
    const int j0 = p * NR, nc = std::min(NR, Ncols - j0);
    int k = transposed_blocks(src, sk, sj, j0, nc, K, [&](int k0, float (*t)[16]) {
      for (int r = 0; r < 8; r += 2) pair_row_bf16(dst + (size_t)(k0 + r) * NR, t[r], t[r + 1]);
    });
    for (; k < K; k += 2) {
      const TS* s0 = src + k * sk + (long)j0 * sj;
      const TS* s1 = k + 1 < K ? s0 + sk : nullptr;
      uint16_t* d = dst + (size_t)k * NR;
      if constexpr (sizeof(TS) == 4) {
        if (sj == 1 && nc == NR) { pair_row_bf16(d, (const float*)s0, (const float*)s1); continue; }
      }
      for (int j = 0; j < NR; j++) {
        d[2 * j + 1] = j < nc ? half_of(s0[j * sj]) : 0;
        d[2 * j] = j < nc && s1 ? half_of(s1[j * sj]) : 0;
      }
    }
  });
}

template <class TD, class TS>
void pack_b(TD* Bp, const TS* src, long sk, long sj, int K, int Ncols) {
  if constexpr (sizeof(TD) == 2) {
    if (kernel_set() != KernelSet::avx2) { pack_b_pairs(Bp, src, sk, sj, K, Ncols); return; }
  }
  int panels = (Ncols + NR - 1) / NR;
  parallel_for(panels, [&](int p, int) {
    TD* dst = Bp + (size_t)p * K * NR;
    int j0 = p * NR, nc = std::min(NR, Ncols - j0);
    int k = transposed_blocks(src, sk, sj, j0, nc, K, [&](int k0, float (*t)[16]) {
      for (int r = 0; r < 8; r++) {
        TD* d = dst + (size_t)(k0 + r) * NR;
        if constexpr (sizeof(TD) == 4) std::memcpy(d, t[r], NR * sizeof(float));
        else pack_row_bf16((uint16_t*)d, t[r]);
      }
    });
    for (; k < K; k++) {
      const TS* s = src + k * sk + (long)j0 * sj;
      TD* d = dst + (size_t)k * NR;
      if (sizeof(TD) == 4 && sizeof(TS) == 4 && sj == 1 && nc == NR) { std::memcpy(d, s, NR * sizeof(float)); continue; }
      if (sizeof(TD) == 2 && sizeof(TS) == 4 && sj == 1 && nc == NR) { pack_row_bf16((uint16_t*)d, (const float*)s); continue; }
      for (int j = 0; j < NR; j++) put(d, j, j < nc ? s[j * sj] : TS(0));
    }
  });
}

// Room for the panels of B(K, Ncols): fp32, or bf16 in any set's layout (k rounded up to pairs).
size_t panel_floats(int K, int Ncols) { return (size_t)((Ncols + NR - 1) / NR) * NR * (K + (K & 1)); }

}  // namespace
}  // namespace zs
