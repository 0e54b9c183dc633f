// RMSNorm: out = x * rsqrt(mean(x^2) + eps) * w.   Legend: N rows, C features.
#pragma once

namespace zs {
void rmsnorm_forward(float* out,       // (N,C)
                     float* rstd,      // (N) saved: 1/sqrt(mean(x^2)+eps)
                     const float* in,  // (N,C)
                     const float* w,   // (C)
                     int N, int C, float eps);
// din += ..., dw += ... (dw summed over rows in row order: micro-batches accumulate exactly)
void rmsnorm_backward(float* din,         // (N,C)
                      float* dw,          // (C)
                      const float* dout,  // (N,C)
                      const float* in,    // (N,C)
                      const float* rstd,  // (N)
                      const float* w,     // (C)
                      int N, int C);
void rmsnorm_forward_ref(float* out, float* rstd, const float* in, const float* w, int N, int C, float eps);
void rmsnorm_backward_ref(float* din, float* dw, const float* dout, const float* in, const float* rstd, const float* w,
                          int N, int C);
}  // namespace zs
