#include "swiglu.h"

#include <algorithm>
#include <cmath>

#include "common.h"
#include "threadpool.h"

namespace zs {

static inline float sigm(float x) { return 1.0f / (1.0f + sexp(-x)); }
static inline __m256 vsigm(__m256 x) {
  const __m256 one = _mm256_set1_ps(1.f);
  return _mm256_div_ps(one, _mm256_add_ps(one, vexp(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

void swiglu_forward(float* out, const float* gu, int N, int F) {
  int chunks = (N + 31) / 32;
  parallel_for(chunks, [&](int c, int) {
    for (int n = c * 32; n < std::min(N, c * 32 + 32); n++) {
      const float* g = gu + (size_t)n * 2 * F;
      const float* u = g + F;
      float* o = out + (size_t)n * F;
      int i = 0;
      for (; i + 8 <= F; i += 8) {
        __m256 gv = _mm256_loadu_ps(g + i);
        _mm256_storeu_ps(o + i, _mm256_mul_ps(_mm256_mul_ps(gv, vsigm(gv)), _mm256_loadu_ps(u + i)));
      }
      for (; i < F; i++) o[i] = g[i] * sigm(g[i]) * u[i];
    }
  });
}

void swiglu_backward(float* dgu, const float* dout, const float* gu, int N, int F) {
  int chunks = (N + 31) / 32;
  parallel_for(chunks, [&](int c, int) {
    for (int n = c * 32; n < std::min(N, c * 32 + 32); n++) {
      const float* g = gu + (size_t)n * 2 * F;
      const float* u = g + F;
      const float* dy = dout + (size_t)n * F;
      float* dg = dgu + (size_t)n * 2 * F;
      float* du = dg + F;
      int i = 0;
      const __m256 one = _mm256_set1_ps(1.f);
      for (; i + 8 <= F; i += 8) {
        __m256 gv = _mm256_loadu_ps(g + i), s = vsigm(gv), dyv = _mm256_loadu_ps(dy + i);
        _mm256_storeu_ps(du + i, _mm256_mul_ps(dyv, _mm256_mul_ps(gv, s)));
        __m256 ds = _mm256_mul_ps(s, _mm256_fmadd_ps(gv, _mm256_sub_ps(one, s), one));
        _mm256_storeu_ps(dg + i, _mm256_mul_ps(_mm256_mul_ps(dyv, _mm256_loadu_ps(u + i)), ds));
      }
      for (; i < F; i++) {
        float s = sigm(g[i]), silu = g[i] * s;
        du[i] = dy[i] * silu;
        dg[i] = dy[i] * u[i] * s * (1.f + g[i] * (1.f - s));
      }
    }
  });
}

void swiglu_forward_ref(float* out, const float* gu, int N, int F) {
  for (int n = 0; n < N; n++)
    for (int i = 0; i < F; i++) {
      double g = gu[(size_t)n * 2 * F + i], u = gu[(size_t)n * 2 * F + F + i];
      out[(size_t)n * F + i] = (float)(g / (1.0 + std::exp(-g)) * u);
    }
}

void swiglu_backward_ref(float* dgu, const float* dout, const float* gu, int N, int F) {
  for (int n = 0; n < N; n++)
    for (int i = 0; i < F; i++) {
      double g = gu[(size_t)n * 2 * F + i], u = gu[(size_t)n * 2 * F + F + i], dy = dout[(size_t)n * F + i];
      double s = 1.0 / (1.0 + std::exp(-g));
      dgu[(size_t)n * 2 * F + F + i] = (float)(dy * g * s);
      dgu[(size_t)n * 2 * F + i] = (float)(dy * u * s * (1 + g * (1 - s)));
    }
}

}  // namespace zs
