// AdamW over the flat parameter table (PyTorch semantics: decoupled decay p *= 1 - lr*wd,
// bias-corrected moments, eps added to sqrt(v_hat)). Legend: P parameters in one range.
#pragma once
#include <cstddef>

namespace zs {
// One contiguous range of the table; decay = weight_decay applies (>= 2-D tensors only).
void adamw_update(float* p, float* m, float* v,  // (P) updated in place
                  const float* g,                // (P)
                  size_t P, float lr, float beta1, float beta2, float eps, float wd, float grad_scale, long t);
// Sum of squares in double over fixed 16K-element chunks summed in order (thread-count invariant).
double sum_squares(const float* g, size_t P);
}  // namespace zs
