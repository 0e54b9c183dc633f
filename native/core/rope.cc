#include "rope.h"

#include <algorithm>
#include <cmath>

#include "threadpool.h"

namespace zs {

void rope_tables(float* cos, float* sin, int P, int D, float theta) {
  int h = D / 2;
  for (int i = 0; i < h; i++) {
    float e = (float)(2 * i) / (float)D;
    float inv = 1.0f / std::pow(theta, e);
    for (int p = 0; p < P; p++) {
      float a = (float)p * inv;
      cos[(size_t)p * h + i] = std::cos(a);
      sin[(size_t)p * h + i] = std::sin(a);
    }
  }
}

static void rotate(float* x, const int* pos, const float* cos, const float* sin, int N, int heads, int D,
                   long row_stride, float sign) {
  int h = D / 2;
  int chunks = (N + 63) / 64;
  parallel_for(chunks, [&](int c, int) {
    for (int n = c * 64; n < std::min(N, c * 64 + 64); n++) {
      const float* cs = cos + (size_t)pos[n] * h;
      const float* sn = sin + (size_t)pos[n] * h;
      for (int hd = 0; hd < heads; hd++) {
        float* v = x + n * row_stride + (long)hd * D;
        for (int i = 0; i < h; i++) {
          float a = v[i], b = v[i + h], s = sign * sn[i];
          v[i] = a * cs[i] - b * s;
          v[i + h] = b * cs[i] + a * s;
        }
      }
    }
  });
}

void rope_forward(float* x, const int* pos, const float* cos, const float* sin, int N, int heads, int D,
                  long row_stride) {
  rotate(x, pos, cos, sin, N, heads, D, row_stride, 1.f);
}

void rope_backward(float* dx, const int* pos, const float* cos, const float* sin, int N, int heads, int D,
                   long row_stride) {
  rotate(dx, pos, cos, sin, N, heads, D, row_stride, -1.f);
}

}  // namespace zs
