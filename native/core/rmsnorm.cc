#include "rmsnorm.h"

#include <algorithm>
#include <cmath>

#include "common.h"
#include "threadpool.h"

namespace zs {

void rmsnorm_forward(float* out, float* rstd, const float* in, const float* w, int N, int C, float eps) {
  int chunks = (N + 63) / 64;
  parallel_for(chunks, [&](int c, int) {
    for (int n = c * 64; n < std::min(N, c * 64 + 64); n++) {
      const float* x = in + (size_t)n * C;
      float* o = out + (size_t)n * C;
      float r = 1.0f / std::sqrt(vdot(x, x, C) / (float)C + eps);
      if (rstd) rstd[n] = r;
      for (int i = 0; i < C; i++) o[i] = (x[i] * r) * w[i];
    }
  });
}

void rmsnorm_backward(float* din, float* dw, const float* dout, const float* in, const float* rstd, const float* w,
                      int N, int C) {
  int chunks = (N + 63) / 64;
  parallel_for(chunks, [&](int c, int) {
    for (int n = c * 64; n < std::min(N, c * 64 + 64); n++) {
      const float* x = in + (size_t)n * C;
      const float* dy = dout + (size_t)n * C;
      float* dx = din + (size_t)n * C;
      float r = rstd[n], dot = 0.f;
      for (int i = 0; i < C; i++) dot += dy[i] * w[i] * x[i];
      float k = dot * r * r / (float)C;
      for (int i = 0; i < C; i++) dx[i] += r * (dy[i] * w[i] - x[i] * k);
    }
  });
  int cchunks = (C + 31) / 32;
  parallel_for(cchunks, [&](int c, int) {
    int i0 = c * 32, i1 = std::min(C, i0 + 32);
    for (int n = 0; n < N; n++) {
      const float* x = in + (size_t)n * C;
      const float* dy = dout + (size_t)n * C;
      float r = rstd[n];
      for (int i = i0; i < i1; i++) dw[i] += dy[i] * (x[i] * r);
    }
  });
}

void rmsnorm_forward_ref(float* out, float* rstd, const float* in, const float* w, int N, int C, float eps) {
  for (int n = 0; n < N; n++) {
    double ss = 0;
    for (int i = 0; i < C; i++) ss += (double)in[(size_t)n * C + i] * in[(size_t)n * C + i];
    double r = 1.0 / std::sqrt(ss / C + eps);
    if (rstd) rstd[n] = (float)r;
    for (int i = 0; i < C; i++) out[(size_t)n * C + i] = (float)(in[(size_t)n * C + i] * r * w[i]);
  }
}

void rmsnorm_backward_ref(float* din, float* dw, const float* dout, const float* in, const float* rstd, const float* w,
                          int N, int C) {
  for (int n = 0; n < N; n++) {
    const float* x = in + (size_t)n * C;
    const float* dy = dout + (size_t)n * C;
    double r = rstd[n], dot = 0;
    for (int i = 0; i < C; i++) dot += (double)dy[i] * w[i] * x[i];
    for (int i = 0; i < C; i++) {
      din[(size_t)n * C + i] += (float)(r * dy[i] * w[i] - r * r * r * x[i] * dot / C);
      dw[i] += (float)(dy[i] * x[i] * r);
    }
  }
}

}  // namespace zs
