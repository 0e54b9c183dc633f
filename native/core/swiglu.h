// SwiGLU: h = silu(gate) * up, with gate and up side by side in one (N, 2F) buffer
// (gate in columns [0,F), up in [F,2F): the gate and up projections run as one matmul).
// Legend: N rows, F FFN size.
#pragma once

namespace zs {
void swiglu_forward(float* out,        // (N,F)
                    const float* gu,   // (N,2F)
                    int N, int F);
void swiglu_backward(float* dgu,         // (N,2F) written (not accumulated: it is a fresh activation grad)
                     const float* dout,  // (N,F)
                     const float* gu,    // (N,2F)
                     int N, int F);
void swiglu_forward_ref(float* out, const float* gu, int N, int F);
void swiglu_backward_ref(float* dgu, const float* dout, const float* gu, int N, int F);
}  // namespace zs
