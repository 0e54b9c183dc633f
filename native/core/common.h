// Shared helpers for the kernels in native/core (plain C++17, no N-API).
// Dimension legend used in every kernel file:
//   B  sequences in a packed batch      N  tokens in the batch (sum of sequence lengths)
//   T  length of one sequence           C  hidden size
//   H  query heads    KVH key/value heads    D  head dim    F  FFN size    V  vocabulary
//   L  layers         R  sampling rows       S  KV-cache slots per layer (R * Tmax)
#pragma once
#include <immintrin.h>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace zs {

struct EngineError : std::runtime_error {
  explicit EngineError(const std::string& m) : std::runtime_error(m) {}
};

// Horizontal sum of a ymm register in a fixed order.
static inline float hsum8(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  __m128 sh = _mm_movehdup_ps(lo);
  lo = _mm_add_ps(lo, sh);
  sh = _mm_movehl_ps(sh, lo);
  return _mm_cvtss_f32(_mm_add_ss(lo, sh));
}

// dot(a, b) over n floats: 8-lane partials then a fixed-order horizontal sum.
static inline float vdot(const float* a, const float* b, int n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  float s = hsum8(_mm256_add_ps(acc0, acc1));
  for (; i < n; i++) s += a[i] * b[i];
  return s;
}

// y += a * x over n floats.
static inline void vaxpy(float* y, float a, const float* x, int n) {
  __m256 va = _mm256_set1_ps(a);
  int i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; i++) y[i] += a * x[i];
}

}  // namespace zs
