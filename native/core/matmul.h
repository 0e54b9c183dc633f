// Linear layers: out = in @ w^T (+ b), with w stored (O, I) as in PyTorch / Hugging Face.
// Legend: N rows (tokens), I input features, O output features.
// Every output element is one FMA chain over k = 0..K-1 in order, whatever the tiling, the row
// count or the thread count: a row's result never depends on its neighbours.
#pragma once
#include <cstddef>

namespace zs {

// Floats of packing workspace needed by matmul_forward / matmul_backward.
size_t matmul_pack_floats(int N, int I, int O);

void matmul_forward(float* out,        // (N,O)
                    float* pack,       // workspace, matmul_pack_floats(N,I,O)
                    const float* in,   // (N,I)
                    const float* w,    // (O,I)
                    const float* b,    // (O) or nullptr
                    int N, int I, int O);

// din += dout @ w;  dw += dout^T @ in;  db += column sums of dout. din may be nullptr.
void matmul_backward(float* din,        // (N,I) or nullptr
                     float* dw,         // (O,I)
                     float* db,         // (O) or nullptr
                     float* pack,       // workspace, matmul_pack_floats(N,I,O)
                     const float* dout, // (N,O)
                     const float* in,   // (N,I)
                     const float* w,    // (O,I)
                     int N, int I, int O);

// Weights packed once and reused across calls (the sampler packs every matrix once per call).
size_t matmul_packed_weight_floats(int I, int O);
void matmul_pack_weight(float* wp,        // matmul_packed_weight_floats(I,O)
                        const float* w,   // (O,I)
                        int I, int O);
void matmul_forward_prepacked(float* out,       // (N,O)
                              const float* in,  // (N,I)
                              const float* wp,  // packed w
                              const float* b,   // (O) or nullptr
                              int N, int I, int O);

void matmul_forward_ref(float* out, const float* in, const float* w, const float* b, int N, int I, int O);
void matmul_backward_ref(float* din, float* dw, float* db, const float* dout, const float* in, const float* w,
                         int N, int I, int O);

}  // namespace zs
