#include "adamw.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "threadpool.h"

namespace zs {

void adamw_update(float* p, float* m, float* v, const float* g, size_t P, float lr, float beta1, float beta2,
                  float eps, float wd, float grad_scale, long t) {
  const double bc1 = 1.0 - std::pow((double)beta1, (double)t), bc2 = 1.0 - std::pow((double)beta2, (double)t);
  const float step = (float)(lr / bc1), bc2s = (float)std::sqrt(bc2), decay = 1.f - lr * wd;
  const size_t CH = 16384;
  int chunks = (int)((P + CH - 1) / CH);
  parallel_for(chunks, [&](int c, int) {
    size_t i1 = std::min(P, (c + 1) * CH);
    for (size_t i = c * CH; i < i1; i++) {
      float gi = g[i] * grad_scale;
      p[i] *= decay;
      m[i] = beta1 * m[i] + (1.f - beta1) * gi;
      v[i] = beta2 * v[i] + (1.f - beta2) * gi * gi;
      p[i] -= step * m[i] / (std::sqrt(v[i]) / bc2s + eps);
    }
  });
}

double sum_squares(const float* g, size_t P) {
  const size_t CH = 16384;
  int chunks = (int)((P + CH - 1) / CH);
  std::vector<double> part(chunks, 0.0);
  parallel_for(chunks, [&](int c, int) {
    double s = 0;
    for (size_t i = c * CH; i < std::min(P, (c + 1) * CH); i++) s += (double)g[i] * g[i];
    part[c] = s;
  });
  double s = 0;
  for (double x : part) s += x;
  return s;
}

}  // namespace zs
