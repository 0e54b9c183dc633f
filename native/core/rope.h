// Rotary position embedding, Hugging Face rotate_half convention:
//   y[i] = x[i] cos - x[i+D/2] sin,  y[i+D/2] = x[i+D/2] cos + x[i] sin   (i < D/2)
// applied in place to the first `heads` heads (of D floats) of each row.
// Legend: N rows, D head dim, P table positions.
#pragma once

namespace zs {
// cos/sin tables (P, D/2), computed in float32 as PyTorch does.
void rope_tables(float* cos, float* sin, int P, int D, float theta);
void rope_forward(float* x,            // (N, row_stride) rotated in place
                  const int* pos,      // (N)
                  const float* cos,    // (P, D/2)
                  const float* sin,    // (P, D/2)
                  int N, int heads, int D, long row_stride);
// dx = R(-θ) dy, in place.
void rope_backward(float* dx, const int* pos, const float* cos, const float* sin, int N, int heads, int D,
                   long row_stride);
}  // namespace zs
