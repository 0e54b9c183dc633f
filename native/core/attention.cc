#include "attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common.h"
#include "threadpool.h"

namespace zs {

size_t attention_scratch_floats(int Tmax) { return (size_t)Tmax * 2 + 64; }

// One query row against keys k_0..k_{n-1} (rows of stride ks): p = softmax(scale * q.k), out = sum p v.
// Returns the log-sum-exp of the scaled scores.
static float attend_row(float* o, float* s, const float* q, const float* k, const float* v, long ks, int n, int D,
                        float scale) {
  float mx = -INFINITY;
  for (int j = 0; j < n; j++) {
    s[j] = vdot(q, k + j * ks, D) * scale;
    mx = std::max(mx, s[j]);
  }
  float sum = 0.f;
  for (int j = 0; j < n; j++) {
    s[j] = std::exp(s[j] - mx);
    sum += s[j];
  }
  float inv = 1.f / sum;
  std::memset(o, 0, sizeof(float) * D);
  for (int j = 0; j < n; j++) vaxpy(o, s[j] * inv, v + j * ks, D);
  return mx + std::log(sum);
}

void attention_forward(float* out, float* lse, float* scratch, const float* qkv, const int* off, int B, int Tmax,
                       AttnDims d) {
  const int G = d.H / d.KVH, HD = d.H * d.D;
  const long QKV = (long)(d.H + 2 * d.KVH) * d.D;
  const float scale = 1.f / std::sqrt((float)d.D);
  const size_t sf = attention_scratch_floats(Tmax);
  parallel_for(B * d.KVH, [&](int task, int tid) {
    int b = task / d.KVH, g = task % d.KVH;
    float* s = scratch + sf * tid;
    const float* k = qkv + (size_t)off[b] * QKV + HD + g * d.D;
    const float* v = k + d.KVH * d.D;
    for (int h = g * G; h < (g + 1) * G; h++)
      for (int i = 0; i < off[b + 1] - off[b]; i++) {
        long n = off[b] + i;
        lse[n * d.H + h] = attend_row(out + n * HD + h * d.D, s, qkv + n * QKV + h * d.D, k, v, QKV, i + 1, d.D, scale);
      }
  });
}

void attention_backward(float* dqkv, float* scratch, const float* dout, const float* out, const float* lse,
                        const float* qkv, const int* off, int B, int Tmax, AttnDims d) {
  const int G = d.H / d.KVH, HD = d.H * d.D;
  const long QKV = (long)(d.H + 2 * d.KVH) * d.D;
  const float scale = 1.f / std::sqrt((float)d.D);
  const size_t sf = attention_scratch_floats(Tmax);
  parallel_for(B * d.KVH, [&](int task, int tid) {
    int b = task / d.KVH, g = task % d.KVH;
    float* p = scratch + sf * tid;
    long kofs = HD + g * d.D, vofs = HD + d.KVH * d.D + g * d.D;
    for (int h = g * G; h < (g + 1) * G; h++)
      for (int i = 0; i < off[b + 1] - off[b]; i++) {
        long n = off[b] + i;
        const float* q = qkv + n * QKV + h * d.D;
        const float* dO = dout + n * HD + h * d.D;
        float Di = vdot(dO, out + n * HD + h * d.D, d.D), l = lse[n * d.H + h];
        float* dq = dqkv + n * QKV + h * d.D;
        for (int j = 0; j <= i; j++) {
          long m = off[b] + j;
          const float* kj = qkv + m * QKV + kofs;
          const float* vj = qkv + m * QKV + vofs;
          float pj = std::exp(vdot(q, kj, d.D) * scale - l);
          float ds = pj * (vdot(dO, vj, d.D) - Di) * scale;
          p[j] = ds;
          vaxpy(dqkv + m * QKV + vofs, pj, dO, d.D);  // dv_j += p dO_i
          vaxpy(dqkv + m * QKV + kofs, ds, q, d.D);   // dk_j += ds q_i
        }
        for (int j = 0; j <= i; j++) vaxpy(dq, p[j], qkv + (off[b] + j) * QKV + kofs, d.D);  // dq_i += ds k_j
      }
  });
}

void attention_forward_ref(float* out, const float* qkv, const int* off, int B, AttnDims d) {
  const int G = d.H / d.KVH, HD = d.H * d.D;
  const long QKV = (long)(d.H + 2 * d.KVH) * d.D;
  const double scale = 1.0 / std::sqrt((double)d.D);
  for (int b = 0; b < B; b++)
    for (int h = 0; h < d.H; h++) {
      int g = h / G;
      for (int i = off[b]; i < off[b + 1]; i++) {
        int n = i - off[b] + 1;
        double* s = new double[n];
        double mx = -1e300, sum = 0;
        for (int j = 0; j < n; j++) {
          double t = 0;
          for (int e = 0; e < d.D; e++)
            t += (double)qkv[(long)i * QKV + h * d.D + e] * qkv[(long)(off[b] + j) * QKV + HD + g * d.D + e];
          s[j] = t * scale;
          mx = std::max(mx, s[j]);
        }
        for (int j = 0; j < n; j++) sum += (s[j] = std::exp(s[j] - mx));
        for (int e = 0; e < d.D; e++) {
          double o = 0;
          for (int j = 0; j < n; j++) o += s[j] / sum * qkv[(long)(off[b] + j) * QKV + HD + d.KVH * d.D + g * d.D + e];
          out[(long)i * HD + h * d.D + e] = (float)o;
        }
        delete[] s;
      }
    }
}

void attention_cached_forward(float* out, float* scratch, const float* q, const float* kcache, const float* vcache,
                              const long* base, const int* pos, int N, long q_stride, int Tmax, AttnDims d) {
  const int G = d.H / d.KVH, HD = d.H * d.D, KD = d.KVH * d.D;
  const float scale = 1.f / std::sqrt((float)d.D);
  const size_t sf = attention_scratch_floats(Tmax);
  parallel_for(N * d.KVH, [&](int task, int tid) {
    int n = task / d.KVH, g = task % d.KVH;
    float* s = scratch + sf * tid;
    const float* k = kcache + base[n] * KD + g * d.D;
    const float* v = vcache + base[n] * KD + g * d.D;
    for (int h = g * G; h < (g + 1) * G; h++)
      attend_row(out + (long)n * HD + h * d.D, s, q + n * q_stride + h * d.D, k, v, KD, pos[n] + 1, d.D, scale);
  });
}

}  // namespace zs
