#include "attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common.h"
#include "threadpool.h"

namespace zs {
namespace {

inline int pad8(int n) { return (n + 7) & ~7; }

// NB blocks of 8 keys at once (independent FMA chains hide the FMA latency).
template <int NB>
inline void scores_blocks(float* s, const float* q, const float* kt, long ldk, int D, __m256 sc) {
  __m256 acc[NB];
#pragma GCC unroll 4
  for (int c = 0; c < NB; c++) acc[c] = _mm256_setzero_ps();
  for (int d = 0; d < D; d++) {
    __m256 qd = _mm256_broadcast_ss(q + d);
    const float* row = kt + d * ldk;
#pragma GCC unroll 4
    for (int c = 0; c < NB; c++) acc[c] = _mm256_fmadd_ps(qd, _mm256_loadu_ps(row + 8 * c), acc[c]);
  }
#pragma GCC unroll 4
  for (int c = 0; c < NB; c++) _mm256_storeu_ps(s + 8 * c, _mm256_mul_ps(acc[c], sc));
}

// s[j] = scale * q . k_j for j < n; kt is K transposed (D, ldk), zero-padded to a multiple of 8
// keys. Each score is one FMA chain over d = 0..D-1, however the keys are blocked.
void scores_t(float* s, const float* q, const float* kt, long ldk, int n, int D, float scale) {
  const __m256 sc = _mm256_set1_ps(scale);
  int j = 0;
  for (; j + 32 <= n; j += 32) scores_blocks<4>(s + j, q, kt + j, ldk, D, sc);
  switch ((n - j + 7) / 8) {  // 0..4 blocks left
    case 4: scores_blocks<4>(s + j, q, kt + j, ldk, D, sc); break;
    case 3: scores_blocks<3>(s + j, q, kt + j, ldk, D, sc); break;
    case 2: scores_blocks<2>(s + j, q, kt + j, ldk, D, sc); break;
    case 1: scores_blocks<1>(s + j, q, kt + j, ldk, D, sc); break;
    default: break;
  }
}

// QB queries (rows q + r*qs) against NB blocks of 8 keys: QB*NB independent FMA chains, each key block loaded
// once per d for all QB queries (scores_blocks, one query, is latency-bound at NB chains).
template <int QB, int NB>
inline void scores_qblocks(float* s, long ls, const float* q, long qs, const float* kt, long ldk, int D, __m256 sc) {
  __m256 acc[QB][NB];
#pragma GCC unroll 4
  for (int r = 0; r < QB; r++)
#pragma GCC unroll 2
    for (int c = 0; c < NB; c++) acc[r][c] = _mm256_setzero_ps();
  for (int d = 0; d < D; d++) {
    const float* row = kt + d * ldk;
    __m256 kv[NB];
#pragma GCC unroll 2
    for (int c = 0; c < NB; c++) kv[c] = _mm256_loadu_ps(row + 8 * c);
#pragma GCC unroll 4
    for (int r = 0; r < QB; r++) {
      const __m256 qd = _mm256_broadcast_ss(q + r * qs + d);
#pragma GCC unroll 2
      for (int c = 0; c < NB; c++) acc[r][c] = _mm256_fmadd_ps(qd, kv[c], acc[r][c]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < QB; r++)
#pragma GCC unroll 2
    for (int c = 0; c < NB; c++) _mm256_storeu_ps(s + r * ls + 8 * c, _mm256_mul_ps(acc[r][c], sc));
}

template <int QB>
void scores_rows_q(float* s, long ls, const float* q, long qs, const float* kt, long ldk, int n, int D, __m256 sc) {
  int j = 0;
  for (; j + 16 <= n; j += 16) scores_qblocks<QB, 2>(s + j, ls, q, qs, kt + j, ldk, D, sc);
  if (j < n) scores_qblocks<QB, 1>(s + j, ls, q, qs, kt + j, ldk, D, sc);
  if (j + 8 < n) scores_qblocks<QB, 1>(s + j + 8, ls, q, qs, kt + j + 8, ldk, D, sc);
}

// Rows r < nq (nq <= 4) of s (stride ls): s[r][j] = scale * q_r . k_j for j < pad8(n), n keys for them all (a
// causal block gives each row its n_r <= n and its caller reads only those). Each score is scores_t's chain:
// one FMA per d in order from zero, then the scale: the same bits.
void scores_rows(float* s, long ls, const float* q, long qs, int nq, const float* kt, long ldk, int n, int D, float scale) {
  const __m256 sc = _mm256_set1_ps(scale);
  switch (nq) {
    case 4: scores_rows_q<4>(s, ls, q, qs, kt, ldk, n, D, sc); break;
    case 3: scores_rows_q<3>(s, ls, q, qs, kt, ldk, n, D, sc); break;
    case 2: scores_rows_q<2>(s, ls, q, qs, kt, ldk, n, D, sc); break;
    default: scores_rows_q<1>(s, ls, q, qs, kt, ldk, n, D, sc); break;
  }
}

// In place: s[j] = exp(s[j] - max) for j < n, zero up to pad8(n); returns (max, sum) as lse.
float softmax_unnorm(float* s, int n, float* sum_out) {
  float mx = -INFINITY;
  for (int j = 0; j < n; j++) mx = std::max(mx, s[j]);
  const __m256 vm = _mm256_set1_ps(mx);
  __m256 acc = _mm256_setzero_ps();
  for (int j = 0; j < n; j += 8) {
    int m = std::min(8, n - j);
    __m256 mask = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(m), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
    __m256 e = _mm256_and_ps(vexp(_mm256_sub_ps(_mm256_loadu_ps(s + j), vm)), mask);
    _mm256_storeu_ps(s + j, e);
    acc = _mm256_add_ps(acc, e);
  }
  *sum_out = hsum8(acc);
  return mx;
}

// o[0..D) (+)= sum_j p[j*ps] * v_j (rows of stride vs), accumulated in registers 64 dims at a time.
void pv(float* o, const float* p, const float* v, long vs, int n, int D, bool add, long ps = 1) {
  for (int d0 = 0; d0 < D; d0 += 64) {
    int nv = std::min(64, D - d0) / 8;
    __m256 acc[8];
#pragma GCC unroll 8
    for (int c = 0; c < 8; c++) acc[c] = c < nv && add ? _mm256_loadu_ps(o + d0 + 8 * c) : _mm256_setzero_ps();
    for (int j = 0; j < n; j++) {
      __m256 pj = _mm256_broadcast_ss(p + j * ps);
      const float* vj = v + j * vs + d0;
#pragma GCC unroll 8
      for (int c = 0; c < 8; c++) if (c < nv) acc[c] = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + 8 * c), acc[c]);
    }
#pragma GCC unroll 8
    for (int c = 0; c < 8; c++) if (c < nv) _mm256_storeu_ps(o + d0 + 8 * c, acc[c]);
  }
}

// dst (D, ld) = rows [0,n) of src (stride ss) transposed, zero-padded to pad8(n) columns.
void transpose_kv(float* dst, long ld, const float* src, long ss, int n, int D) {
  for (int d = 0; d < D; d++) {
    float* row = dst + d * ld;
    for (int j = 0; j < n; j++) row[j] = src[j * ss + d];
    for (int j = n; j < pad8(n); j++) row[j] = 0.f;
  }
}

// One query: out = softmax(scores) . V with scores already in s (length n); returns the lse.
float finish_row(float* out, float* s, const float* v, long vs, int n, int D) {
  float sum;
  float mx = softmax_unnorm(s, n, &sum);
  float inv = 1.f / sum;
  for (int j = 0; j < n; j++) s[j] *= inv;
  pv(out, s, v, vs, n, D, false);
  return mx + std::log(sum);
}

}  // namespace

// Sequences up to this length keep P and dS as (T, T) matrices in backward, so dK and dV accumulate
// in registers; longer ones fall back to a row-at-a-time loop with memory accumulation.
constexpr int kMatT = 512;

size_t attention_scratch_floats(int Tmax, int D) {
  size_t tp = pad8(Tmax);
  return tp * (2 * D + 4) + (Tmax <= kMatT ? 2 * tp * tp : 0) + 64;
}

void attention_forward(float* out, float* lse, float* scratch, const float* qkv, const int* off, int B, int Tmax,
                       AttnDims d, int slices) {
  const int G = d.H / d.KVH, HD = d.H * d.D;
  const long QKV = (long)(d.H + 2 * d.KVH) * d.D;
  const float scale = 1.f / std::sqrt((float)d.D);
  const size_t sf = attention_scratch_floats(Tmax, d.D);
  parallel_for(B * d.KVH, [&](int task, int tid) {
    int b = task / d.KVH, g = task % d.KVH, T = off[b + 1] - off[b];
    long ld = pad8(T);
    float* kt = scratch + sf * tid;
    float* s = kt + d.D * ld;
    const float* k = qkv + (size_t)off[b] * QKV + HD + g * d.D;
    const float* v = k + d.KVH * d.D;
    transpose_kv(kt, ld, k, QKV, T, d.D);
    for (int h = g * G; h < (g + 1) * G; h++)
      for (int i0 = 0; i0 < T; i0 += 4) {  // 4 queries' scores at once, then each row as before
        const int nq = std::min(4, T - i0);
        const long n0 = off[b] + i0;
        scores_rows(s, ld, qkv + n0 * QKV + h * d.D, QKV, nq, kt, ld, i0 + nq, d.D, scale);
        for (int r = 0; r < nq; r++)
          lse[(n0 + r) * d.H + h] = finish_row(out + (n0 + r) * HD + h * d.D, s + r * ld, v, QKV, i0 + r + 1, d.D);
      }
  }, slices);
}

void attention_backward(float* dqkv, float* scratch, const float* dout, const float* out, const float* lse,
                        const float* qkv, const int* off, int B, int Tmax, AttnDims d, int slices) {
  const int G = d.H / d.KVH, HD = d.H * d.D;
  const long QKV = (long)(d.H + 2 * d.KVH) * d.D;
  const float scale = 1.f / std::sqrt((float)d.D);
  const size_t sf = attention_scratch_floats(Tmax, d.D);
  parallel_for(B * d.KVH, [&](int task, int tid) {
    int b = task / d.KVH, g = task % d.KVH, T = off[b + 1] - off[b];
    long ld = pad8(T), kofs = HD + g * d.D, vofs = HD + d.KVH * d.D + g * d.D;
    float* kt = scratch + sf * tid;
    float* vt = kt + d.D * ld;
    float* p = vt + d.D * ld;
    float* dp = p + ld;
    const float* k = qkv + (size_t)off[b] * QKV + kofs;
    const float* v = qkv + (size_t)off[b] * QKV + vofs;
    transpose_kv(kt, ld, k, QKV, T, d.D);
    transpose_kv(vt, ld, v, QKV, T, d.D);
    float* dk = dqkv + (size_t)off[b] * QKV + kofs;
    float* dv = dqkv + (size_t)off[b] * QKV + vofs;
    float* P = dp + ld;          // (T, ld) probabilities   (matrix path)
    float* dS = P + ld * ld;     // (T, ld) score gradients
    const bool mat = T <= kMatT;
    for (int h = g * G; h < (g + 1) * G; h++) {
      for (int i = 0; i < T; i++) {
        long n = off[b] + i;
        const float* q = qkv + n * QKV + h * d.D;
        const float* dO = dout + n * HD + h * d.D;
        float Di = vdot(dO, out + n * HD + h * d.D, d.D), l = lse[n * d.H + h];
        float* pr = mat ? P + i * ld : p;
        float* dr = mat ? dS + i * ld : dp;
        if (!mat) {
          scores_t(pr, q, kt, ld, i + 1, d.D, scale);
          scores_t(dr, dO, vt, ld, i + 1, d.D, 1.f);
        } else if (i % 4 == 0) {  // the next 4 rows of P and dS at once (rows of scores_t's bits)
          const int nq = std::min(4, T - i);
          scores_rows(pr, ld, q, QKV, nq, kt, ld, i + nq, d.D, scale);
          scores_rows(dr, ld, dO, HD, nq, vt, ld, i + nq, d.D, 1.f);
        }
        for (int j = 0; j <= i; j++) {
          pr[j] = std::exp(pr[j] - l);
          dr[j] = pr[j] * (dr[j] - Di) * scale;
        }
        if (!mat) {
          for (int j = 0; j <= i; j++) {
            vaxpy(dv + j * QKV, pr[j], dO, d.D);  // dv_j += p dO_i
            vaxpy(dk + j * QKV, dr[j], q, d.D);   // dk_j += ds q_i
          }
        }
        pv(dqkv + n * QKV + h * d.D, dr, k, QKV, i + 1, d.D, true);  // dq_i += sum_j ds_j k_j
      }
      if (!mat) continue;
      for (int j = 0; j < T; j++) {  // dv_j += sum_{i>=j} P[i][j] dO_i;  dk_j += sum_{i>=j} dS[i][j] q_i
        long m = off[b] + j;
        pv(dv + j * QKV, P + j * ld + j, dout + m * HD + h * d.D, HD, T - j, d.D, true, ld);
        pv(dk + j * QKV, dS + j * ld + j, qkv + m * QKV + h * d.D, QKV, T - j, d.D, true, ld);
      }
    }
  }, slices);
}

void attention_forward_ref(float* out, const float* qkv, const int* off, int B, AttnDims d) {
  const int G = d.H / d.KVH, HD = d.H * d.D;
  const long QKV = (long)(d.H + 2 * d.KVH) * d.D;
  const double scale = 1.0 / std::sqrt((double)d.D);
  for (int b = 0; b < B; b++)
    for (int h = 0; h < d.H; h++) {
      int g = h / G;
      for (int i = off[b]; i < off[b + 1]; i++) {
        int n = i - off[b] + 1;
        double* s = new double[n];
        double mx = -1e300, sum = 0;
        for (int j = 0; j < n; j++) {
          double t = 0;
          for (int e = 0; e < d.D; e++)
            t += (double)qkv[(long)i * QKV + h * d.D + e] * qkv[(long)(off[b] + j) * QKV + HD + g * d.D + e];
          s[j] = t * scale;
          mx = std::max(mx, s[j]);
        }
        for (int j = 0; j < n; j++) sum += (s[j] = std::exp(s[j] - mx));
        for (int e = 0; e < d.D; e++) {
          double o = 0;
          for (int j = 0; j < n; j++) o += s[j] / sum * qkv[(long)(off[b] + j) * QKV + HD + d.KVH * d.D + g * d.D + e];
          out[(long)i * HD + h * d.D + e] = (float)o;
        }
        delete[] s;
      }
    }
}

size_t attention_kcache_floats(int R, int Tmax, AttnDims d) { return (size_t)R * d.KVH * d.D * pad8(Tmax); }

void attention_cache_write(float* kt, float* vc, const float* qkv, const int* rows, const int* pos, int N, long q_stride,
                           int Tmax, AttnDims d) {
  const int KD = d.KVH * d.D, HD = d.H * d.D;
  const long Tp = pad8(Tmax);
  for (int n = 0; n < N; n++) {
    const float* k = qkv + n * q_stride + HD;
    float* dst = kt + (size_t)rows[n] * KD * Tp + pos[n];
    for (int e = 0; e < KD; e++) dst[e * Tp] = k[e];
    std::memcpy(vc + ((size_t)rows[n] * Tmax + pos[n]) * KD, k + KD, sizeof(float) * KD);
  }
}

void attention_cache_copy(float* kt, float* vc, int from, int to, int P, int Tmax, AttnDims d) {
  const int KD = d.KVH * d.D;
  const long Tp = pad8(Tmax);
  std::memcpy(kt + (size_t)to * KD * Tp, kt + (size_t)from * KD * Tp, sizeof(float) * KD * Tp);
  std::memcpy(vc + (size_t)to * Tmax * KD, vc + (size_t)from * Tmax * KD, sizeof(float) * P * KD);
}

void attention_cached_forward(float* out, float* scratch, const float* q, const float* kt, const float* vc,
                              const int* rows, const int* pos, int N, long q_stride, int Tmax, AttnDims d, int slices) {
  const int G = d.H / d.KVH, HD = d.H * d.D, KD = d.KVH * d.D;
  const long Tp = pad8(Tmax);
  const float scale = 1.f / std::sqrt((float)d.D);
  const size_t sf = attention_scratch_floats(Tmax, d.D);
  parallel_for(N * d.KVH, [&](int task, int tid) {
    int n = task / d.KVH, g = task % d.KVH;
    float* s = scratch + sf * tid;
    const float* k = kt + ((size_t)rows[n] * d.KVH + g) * d.D * Tp;
    const float* v = vc + (size_t)rows[n] * Tmax * KD + g * d.D;
    for (int h = g * G; h < (g + 1) * G; h++) {
      scores_t(s, q + n * q_stride + h * d.D, k, Tp, pos[n] + 1, d.D, scale);
      finish_row(out + (long)n * HD + h * d.D, s, v, KD, pos[n] + 1, d.D);
    }
  }, slices);
}

}  // namespace zs
