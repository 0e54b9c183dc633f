// Linear layers: out = in @ w^T (+ b), with w stored (O, I) as in PyTorch / Hugging Face.
// Legend: N rows (tokens), I input features, O output features.
// Every output element is one FMA chain over k = 0..K-1 in order, whatever the tiling, the row
// count or the thread count: a row's result never depends on its neighbours.
#pragma once
#include <cstddef>
#include <cstdint>

namespace zs {

// One weight matrix (O,I): fp32, or bf16 (a frozen copy of model dtype bf16); exactly one is set. bf16 -> f32
// is exact and every product below runs in fp32, so a bf16 matrix gives the same bits as an fp32 matrix that
// holds the same (rounded) values.
struct WeightRef {
  const float* f = nullptr;
  const uint16_t* h = nullptr;
};

// The precision of the products (model.compute_dtype). f32: fp32 operands. bf16: every operand, A and B, is
// rounded to bf16 (nearest, ties to even) as it is packed, and the products accumulate in fp32 in the same
// FMA chain as f32. A product of two bf16 values is exact in fp32, so the result is the f32 kernel's on the
// rounded operands, bit for bit: what a bf16 dot-product instruction gives up to its summation order. The
// AVX2 kernel set emulates it that way (bf16 panels, widened as they load, halve the B bytes).
enum class Compute { f32, bf16 };
// p[0..n) rounded to bf16 in place (common.h's f32_to_bf16, vectorised): how compute bf16 rounds A operands.
void round_bf16_inplace(float* p, size_t n);

// Tests: the size of B above which a GEMM takes larger row blocks (default 16 MB); returns the previous one. The
// blocking never changes a bit, only which path runs.
size_t matmul_set_wide_b_bytes(size_t bytes);
// Tests and benchmarks: whether fp32 GEMMs of the avx512 sets read a row-major A in place (default) or pack it
// first; returns the previous setting. The same bits either way.
bool matmul_set_unpacked_a(bool on);

// Floats of packing workspace needed by matmul_forward / matmul_backward.
size_t matmul_pack_floats(int N, int I, int O);

void matmul_forward(float* out,        // (N,O)
                    float* pack,       // workspace, matmul_pack_floats(N,I,O)
                    const float* in,   // (N,I)
                    const float* w,    // (O,I)
                    const float* b,    // (O) or nullptr
                    int N, int I, int O, Compute cmp = Compute::f32);

// The same with a matrix of either dtype (bf16 is widened while it is packed).
void matmul_forward(float* out, float* pack, const float* in, WeightRef w, const float* b, int N, int I, int O,
                    Compute cmp = Compute::f32);

// din += dout @ w;  dw += dout^T @ in;  db += column sums of dout. din, dw and db may each be nullptr (skipped).
void matmul_backward(float* din,        // (N,I) or nullptr
                     float* dw,         // (O,I)
                     float* db,         // (O) or nullptr
                     float* pack,       // workspace, matmul_pack_floats(N,I,O)
                     const float* dout, // (N,O)
                     const float* in,   // (N,I)
                     const float* w,    // (O,I)
                     int N, int I, int O, Compute cmp = Compute::f32);

// One weight's panels, packed once for several products with the same values (the LM head over chunks of
// rows): the panels matmul_forward / matmul_backward build for themselves, so each product has their bits.
// The workspace holds either direction, fp32 or compute bf16 panels; it is valid until the weight changes.
size_t matmul_weight_pack_floats(int I, int O);
void matmul_pack_forward(float* pack, WeightRef w, int I, int O, Compute cmp);           // for out = in @ w^T
void matmul_forward_packed(float* out, const float* pack, const float* in, int N, int I, int O, Compute cmp);
void matmul_pack_backward_din(float* pack, const float* w, int I, int O, Compute cmp);   // for din += dout @ w
void matmul_backward_din_packed(float* din, const float* pack, const float* dout, int N, int I, int O, Compute cmp);

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
// fp32 weights packed once into bf16 panels (rounded to nearest even): compute bf16 with fp32 weights.
void matmul_pack_weight_f32_as_bf16(uint16_t* wp, const float* w, int I, int O);

// bf16 weights packed once (half the bytes of the fp32 panels): the kernel widens each panel row as it
// loads it, so the products are the fp32 ones of matmul_forward_prepacked on the widened values.
size_t matmul_packed_weight_halves(int I, int O);
void matmul_pack_weight_bf16(uint16_t* wp, const uint16_t* w, int I, int O);
// cmp bf16 rounds the activations (A) as they are packed; f32 keeps them (a bf16 copy computing in fp32).
void matmul_forward_prepacked_bf16(float* out, const float* in, const uint16_t* wp, const float* b, int N, int I, int O,
                                   Compute cmp = Compute::f32);

// The _ref twins sum in double; cmp bf16 rounds each operand to bf16 first (written from the contract above).
void matmul_forward_ref(float* out, const float* in, const float* w, const float* b, int N, int I, int O,
                        Compute cmp = Compute::f32);
void matmul_backward_ref(float* din, float* dw, float* db, const float* dout, const float* in, const float* w,
                         int N, int I, int O, Compute cmp = Compute::f32);

}  // namespace zs
