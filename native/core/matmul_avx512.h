// The avx512 and avx512-bf16 kernel sets' GEMM blocks (matmul_avx512.cc, compiled for AVX-512 by a target
// pragma; called only where kernel_set() says the CPU has it). matmul.cc packs; these multiply.
#pragma once
#include <cstdint>

namespace zs::mm {

constexpr int NR = 16;   // columns per packed panel
constexpr int MR = 6;    // rows per packed A tile
constexpr int KC = 256;  // k block (even: a block's k pairs never straddle blocks)
constexpr int RB = 48;   // rows per task
// rows per task where B is too large to stay in cache between row blocks (matmul.cc row_block): each row block
// streams all of B once per k block, so larger blocks read it fewer times. Packing buffers are sized for it.
constexpr int RB_WIDE = 192;

// C(rows, Ncols) (+)= A @ B over one k block of kc values, panels [p0, p1); C at the block's first row.
// A: the packed tiles of the block's rows, a[t*KC*MR + k*MR + i] (rows past `rows` are never read into C).
// B: panel p at Bp + p*pstride, already offset to the k block. fp32 panels hold [k][16]; bf16 panels (the
// wide sets' layout) hold k pairs, [k/2][16][2], a missing odd k as zero. load: continue C's accumulators.
// pad (compute bf16, odd kc): add +0 at the end, as vdpbf16ps does for the last k's missing partner.
void block_f32(float* C, long ldc, const float* a, int rows, const float* Bp, long pstride, int p0, int p1, int Ncols, int kc, bool load, bool pad);
// block_f32 with A unpacked, row-major (fp32 compute, A(r, k) = A[r*lda + k], already at the block's first row
// and k): the same products in the same order, without packing A.
void block_f32_rowmajor(float* C, long ldc, const float* A, long lda, int rows, const float* Bp, long pstride, int p0, int p1, int Ncols, int kc, bool load);
// bf16 panels: dp false widens them and multiplies in fp32 (the avx2 set's bits: the same FMA chain); dp true
// multiplies A's bf16 values (a's fp32 values, already rounded) by vdpbf16ps, two k per instruction.
void block_bf16(float* C, long ldc, const float* a, int rows, const uint16_t* Bp, long pstride, int p0, int p1, int Ncols, int kc, bool load,
                bool dp, bool pad);

// Peak probes (GFLOP/s of this thread; peak.cc runs one per pool thread): 12 independent chains.
double probe_fma512(long iters);   // vfmadd231ps zmm: 32 flops
double probe_dpbf16(long iters);   // vdpbf16ps zmm: 64 flops

}  // namespace zs::mm
