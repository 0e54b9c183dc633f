#include "sampling.h"

#include <algorithm>
#include <cmath>
#include <cstring>
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
    // a strict total order (ties by index), so the first c of any selection equal the first c of a full sort
    auto desc = [&](int a, int b) { return prob[a] > prob[b] || (prob[a] == prob[b] && a < b); };
    double kept = 0;
    if (s.top_k > 0 && s.top_k < V) {
      std::partial_sort(idx, idx + s.top_k, idx + V, desc);
      n = s.top_k;
      for (int i = 0; i < n; i++) kept += prob[idx[i]];
    } else {
      // top-p alone: the kept mass is the whole vocabulary's (summed in index order), and only the candidates
      // that can be in the top-p prefix are sorted (a full sort of Qwen2.5's 151,936 entries took 17.9 ms a row
      // and token). Buckets by a probability's float bits (monotone in its value, so equal probabilities share
      // a bucket; 8 per octave), one pass for each bucket's mass, then from the top bucket down to the one where
      // the mass reaches top_p of kept, and one below it for the rounding of the sums: every other token is
      // less probable than all of these, so sorting them gives the full sort's prefix. If the prefix still
      // runs past them (sums rounded differently), the whole vocabulary is sorted as before.
      for (int j = 0; j < V; j++) kept += prob[j];
      n = V;
      if (s.top_p < 1.f) {
        static thread_local double mass[2048];
        std::fill(mass, mass + 2048, 0.0);
        auto bucket = [&](int j) { uint32_t u; std::memcpy(&u, &prob[j], 4); return (int)((u >> 20) & 2047); };
        for (int j = 0; j < V; j++) mass[bucket(j)] += prob[j];
        double acc = 0;
        int b = 2047;
        for (; b > 0; b--) { acc += mass[b]; if (acc >= s.top_p * kept) break; }
        const int lo = std::max(0, b - 1);
        int c = 0;
        for (int j = 0; j < V; j++) if (bucket(j) >= lo) idx[c++] = j;
        std::sort(idx, idx + c, desc);
        double walked = 0;
        for (int i = 0; i < c; i++) walked += prob[idx[i]];
        if (walked >= s.top_p * kept) n = c;
        else {
          for (int j = 0; j < V; j++) idx[j] = j;
          std::sort(idx, idx + V, desc);
        }
      }
    }
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
