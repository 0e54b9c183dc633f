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

namespace {
// Token t's log-prob (and entropy) from its logits row z: the one place this arithmetic lives, so the
// whole-batch and the chunked entry points give the same bits.
inline void lp_of_row(float* lp, float* ent, const float* z, int tok, int V, float invT) {
  float lse = row_lse(z, V, invT);
  *lp = z[tok] * invT - lse;
  if (ent) {
    double e = 0;
    for (int j = 0; j < V; j++) {
      double l = z[j] * invT - lse;
      e -= std::exp(l) * l;
    }
    *ent = (float)e;
  }
}
inline void dlogits_of_row(float* d, const float* z, int tok, float dlp, int V, float invT) {
  float lse = row_lse(z, V, invT), g = dlp * invT;
  for (int j = 0; j < V; j++) d[j] = -g * std::exp(z[j] * invT - lse);
  d[tok] += g;
}
// Adds the entropy's part to row d: H = -Σ p_j l_j with l = z/T - lse, dH/dz_j = -p_j (l_j + H) / T.
// H is recomputed here in double from the row (not the float ent[t]), so the gradient is of this row's H.
inline void dlogits_entropy_of_row(float* d, const float* z, float dent, int V, float invT) {
  float lse = row_lse(z, V, invT);
  double H = 0;
  for (int j = 0; j < V; j++) { double l = z[j] * invT - lse; H -= std::exp(l) * l; }
  const double g = (double)dent * invT;
  for (int j = 0; j < V; j++) {
    double l = z[j] * invT - lse;
    d[j] += (float)(-g * std::exp(l) * (l + H));
  }
}
}  // namespace

void logprob_forward(float* lp, float* ent, const float* logits, const int* tokens, const uint8_t* start, int N, int V,
                     float temperature) {
  const float invT = 1.f / temperature;
  int chunks = (N + 15) / 16;
  parallel_for(chunks, [&](int c, int) {
    for (int t = c * 16; t < std::min(N, c * 16 + 16); t++) {
      if (start[t]) { lp[t] = 0.f; if (ent) ent[t] = 0.f; continue; }
      lp_of_row(lp + t, ent ? ent + t : nullptr, logits + (size_t)(t - 1) * V, tokens[t], V, invT);
    }
  });
}

void logprob_forward_rows(float* lp, float* ent, const float* rows, const int* tokens, const uint8_t* start, int r0, int n,
                          int N, int V, float temperature) {
  const float invT = 1.f / temperature;
  if (r0 == 0 && N > 0) { lp[0] = 0.f; if (ent) ent[0] = 0.f; }   // token 0 starts a sequence
  int chunks = (n + 15) / 16;
  parallel_for(chunks, [&](int c, int) {
    for (int i = c * 16; i < std::min(n, c * 16 + 16); i++) {
      const int t = r0 + i + 1;
      if (t >= N) continue;
      if (start[t]) { lp[t] = 0.f; if (ent) ent[t] = 0.f; continue; }
      lp_of_row(lp + t, ent ? ent + t : nullptr, rows + (size_t)i * V, tokens[t], V, invT);
    }
  });
}

void logprob_backward(float* dlogits, const float* dlp, const float* logits, const int* tokens, const uint8_t* start,
                      int N, int V, float temperature) {
  logprob_backward_rows(dlogits, dlp, nullptr, logits, tokens, start, 0, N, N, V, temperature);
}

void logprob_backward_rows(float* drows, const float* dlp, const float* dent, const float* rows, const int* tokens,
                           const uint8_t* start, int r0, int n, int N, int V, float temperature) {
  const float invT = 1.f / temperature;
  int chunks = (n + 15) / 16;
  parallel_for(chunks, [&](int c, int) {
    for (int i = c * 16; i < std::min(n, c * 16 + 16); i++) {
      float* d = drows + (size_t)i * V;
      const int t = r0 + i + 1;
      const bool has_ent = dent && t < N && dent[t] != 0.f;
      if (t >= N || start[t] || (dlp[t] == 0.f && !has_ent)) { std::memset(d, 0, sizeof(float) * V); continue; }
      const float* z = rows + (size_t)i * V;
      if (dlp[t] != 0.f) dlogits_of_row(d, z, tokens[t], dlp[t], V, invT);
      else std::memset(d, 0, sizeof(float) * V);
      if (has_ent) dlogits_entropy_of_row(d, z, dent[t], V, invT);
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
