#include "swiglu.h"

#include <algorithm>
#include <cmath>

#include "threadpool.h"

namespace zs {

static inline float sigm(float x) { return 1.0f / (1.0f + std::exp(-x)); }

void swiglu_forward(float* out, const float* gu, int N, int F) {
  int chunks = (N + 31) / 32;
  parallel_for(chunks, [&](int c, int) {
    for (int n = c * 32; n < std::min(N, c * 32 + 32); n++) {
      const float* g = gu + (size_t)n * 2 * F;
      const float* u = g + F;
      float* o = out + (size_t)n * F;
      for (int i = 0; i < F; i++) o[i] = g[i] * sigm(g[i]) * u[i];
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
      for (int i = 0; i < F; i++) {
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
