#include "sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "logprob.h"

namespace zs {

static inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

double rng_uniform(uint64_t seed, uint64_t counter) {
  uint64_t h = mix64(mix64(seed + 0x9e3779b97f4a7c15ULL) ^ (counter * 0xd1b54a32d192ed03ULL + 0x632be59bd9b4e019ULL));
  return (double)(h >> 11) * (1.0 / 9007199254740992.0);
}

double rng_normal(uint64_t seed, uint64_t counter) {
  double u1 = rng_uniform(seed, 2 * counter), u2 = rng_uniform(seed, 2 * counter + 1);
  return std::sqrt(-2.0 * std::log(1.0 - u1)) * std::cos(6.283185307179586 * u2);
}

static int argmax(const float* z, int V) {
  int best = 0;
  for (int j = 1; j < V; j++) if (z[j] > z[best]) best = j;
  return best;
}

int sample_row(float* logprob, int* idx, float* prob, const float* z, int V, SampleSettings s, double u) {
  if (s.temperature <= 0.f) {
    int y = argmax(z, V);
    *logprob = z[y] - row_lse(z, V, 1.f);
    return y;
  }
  const float invT = 1.f / s.temperature;
  const float lse = row_lse(z, V, invT);
  for (int j = 0; j < V; j++) prob[j] = std::exp(z[j] * invT - lse);
  int n = V;
  bool truncate = (s.top_k > 0 && s.top_k < V) || s.top_p < 1.f;
  int y = -1;
  if (!truncate) {
    double acc = 0, target = u;  // full distribution, walk in index order
    for (int j = 0; j < V; j++) {
      acc += prob[j];
      if (target < acc) { y = j; break; }
    }
    if (y < 0) y = V - 1;
  } else {
    for (int j = 0; j < V; j++) idx[j] = j;
    auto desc = [&](int a, int b) { return prob[a] > prob[b] || (prob[a] == prob[b] && a < b); };
    if (s.top_k > 0 && s.top_k < V) {
      std::partial_sort(idx, idx + s.top_k, idx + V, desc);
      n = s.top_k;
    } else {
      std::sort(idx, idx + V, desc);
    }
    double kept = 0;
    for (int i = 0; i < n; i++) kept += prob[idx[i]];
    if (s.top_p < 1.f) {  // smallest prefix whose renormalised mass reaches top_p
      double acc = 0;
      int m = 0;
      while (m < n) { acc += prob[idx[m++]]; if (acc >= s.top_p * kept) break; }
      n = m;
      kept = acc;
    }
    double acc = 0, target = u * kept;
    for (int i = 0; i < n; i++) {
      acc += prob[idx[i]];
      if (target < acc) { y = idx[i]; break; }
    }
    if (y < 0) y = idx[n - 1];
  }
  *logprob = z[y] * invT - lse;
  return y;
}

int sample_row_ref(float* logprob, const float* z, int V, SampleSettings s, double u) {
  std::vector<int> idx(V);
  std::vector<float> prob(V);
  return sample_row(logprob, idx.data(), prob.data(), z, V, s, u);
}

}  // namespace zs
