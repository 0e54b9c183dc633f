#include "logprob.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "threadpool.h"

namespace zs {

float row_lse(const float* z, int V, float invT) {
  float mx = -INFINITY;
  for (int j = 0; j < V; j++) mx = std::max(mx, z[j] * invT);
  double s = 0;
  for (int j = 0; j < V; j++) s += std::exp(z[j] * invT - mx);
  return mx + (float)std::log(s);
}

void logprob_forward(float* lp, float* ent, const float* logits, const int* tokens, const uint8_t* start, int N, int V,
                     float temperature) {
  const float invT = 1.f / temperature;
  int chunks = (N + 15) / 16;
  parallel_for(chunks, [&](int c, int) {
    for (int t = c * 16; t < std::min(N, c * 16 + 16); t++) {
      if (start[t]) { lp[t] = 0.f; if (ent) ent[t] = 0.f; continue; }
      const float* z = logits + (size_t)(t - 1) * V;
      float lse = row_lse(z, V, invT);
      lp[t] = z[tokens[t]] * invT - lse;
      if (ent) {
        double e = 0;
        for (int j = 0; j < V; j++) {
          double l = z[j] * invT - lse;
          e -= std::exp(l) * l;
        }
        ent[t] = (float)e;
      }
    }
  });
}

void logprob_backward(float* dlogits, const float* dlp, const float* logits, const int* tokens, const uint8_t* start,
                      int N, int V, float temperature) {
  const float invT = 1.f / temperature;
  int chunks = (N + 15) / 16;
  parallel_for(chunks, [&](int c, int) {
    for (int r = c * 16; r < std::min(N, c * 16 + 16); r++) {
      float* d = dlogits + (size_t)r * V;
      int t = r + 1;
      if (t >= N || start[t] || dlp[t] == 0.f) { std::memset(d, 0, sizeof(float) * V); continue; }
      const float* z = logits + (size_t)r * V;
      float lse = row_lse(z, V, invT), g = dlp[t] * invT;
      for (int j = 0; j < V; j++) d[j] = -g * std::exp(z[j] * invT - lse);
      d[tokens[t]] += g;
    }
  });
}

void logprob_forward_ref(float* lp, float* ent, const float* logits, const int* tokens, const uint8_t* start, int N,
                         int V, float temperature) {
  for (int t = 0; t < N; t++) {
    if (start[t]) { lp[t] = 0; if (ent) ent[t] = 0; continue; }
    const float* z = logits + (size_t)(t - 1) * V;
    double mx = -1e300, s = 0, e = 0;
    for (int j = 0; j < V; j++) mx = std::max(mx, (double)z[j] / temperature);
    for (int j = 0; j < V; j++) s += std::exp(z[j] / (double)temperature - mx);
    double lse = mx + std::log(s);
    for (int j = 0; j < V; j++) e -= std::exp(z[j] / (double)temperature - lse) * (z[j] / (double)temperature - lse);
    lp[t] = (float)(z[tokens[t]] / (double)temperature - lse);
    if (ent) ent[t] = (float)e;
  }
}

}  // namespace zs
