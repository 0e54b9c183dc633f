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

// The contract of sample_row read plainly, sharing none of its code: double precision, one full sort
// by logit, one pass per rule. Probabilities p = softmax(z / T). Nothing cut (top_k <= 0 or >= V, and
// top_p = 1): the draw walks the vocabulary in index order. Otherwise candidates are ordered by p
// descending (ties: lower index first), the first top_k kept, then the shortest prefix whose mass
// reaches top_p of the kept mass; the draw walks that prefix. Draw: the first candidate whose
// cumulative mass exceeds u * (mass walked). T = 0: first argmax, log-prob at T = 1.
int sample_row_ref(float* logprob, const float* z, int V, SampleSettings s, double u, double* margin) {
  if (margin) *margin = HUGE_VAL;
  const bool greedy = s.temperature <= 0.f;
  const double invT = greedy ? 1.0 : 1.0 / (double)s.temperature;
  double zmax = z[0];
  for (int j = 1; j < V; j++) zmax = std::max(zmax, (double)z[j]);
  double sum = 0;
  for (int j = 0; j < V; j++) sum += std::exp((z[j] - zmax) * invT);
  const double lse = zmax * invT + std::log(sum);  // log sum_j exp(z_j / T)
  if (greedy) {
    int y = 0;
    for (int j = 1; j < V; j++) if (z[j] > z[y]) y = j;
    *logprob = (float)(z[y] - lse);
    return y;
  }
  std::vector<double> p(V);
  for (int j = 0; j < V; j++) p[j] = std::exp(z[j] * invT - lse);
  std::vector<int> order(V);
  for (int j = 0; j < V; j++) order[j] = j;
  const bool cut_k = s.top_k > 0 && s.top_k < V, cut_p = s.top_p < 1.f;
  int n = V;
  if (cut_k || cut_p) {
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return z[a] > z[b]; });
    if (cut_k) n = s.top_k;
    if (cut_p) {
      double kept = 0;
      for (int i = 0; i < n; i++) kept += p[order[i]];
      double acc = 0;
      int m = 0;
      while (m < n) {
        acc += p[order[m++]];
        if (margin) *margin = std::min(*margin, std::fabs(acc - s.top_p * kept) / kept);
        if (acc >= s.top_p * kept) break;
      }
      n = m;
    }
  }
  double mass = 0;
  for (int i = 0; i < n; i++) mass += p[order[i]];
  const double target = u * mass;
  int y = order[n - 1];
  double acc = 0;
  for (int i = 0; i < n; i++) {
    acc += p[order[i]];
    if (margin) *margin = std::min(*margin, std::fabs(acc - target) / mass);
    if (target < acc) { y = order[i]; break; }
  }
  *logprob = (float)(z[y] * invT - lse);
  return y;
}

}  // namespace zs
