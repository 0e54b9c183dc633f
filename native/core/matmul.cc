#include "matmul.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "common.h"
#include "kernelset.h"
#include "matmul_avx512.h"
#include "matmul_pack_b.h"
#include "threadpool.h"

namespace zs {

// p[0..n) rounded to bf16 in place, 8 at a time.
void round_bf16_inplace(float* p, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_si256((__m256i*)(p + i), _mm256_slli_epi32(round_bf16_bits(_mm256_loadu_si256((const __m256i*)(p + i))), 16));
  for (; i < n; i++) p[i] = bf16_to_f32(f32_to_bf16(p[i]));
}

namespace {

using mm::NR;  // columns per packed panel (two ymm, one zmm)
using mm::MR;  // rows per micro-tile
using mm::KC;  // k block (accumulators are stored and reloaded: same order, same result)
using mm::RB;  // rows per task
using mm::RB_WIDE;  // rows per task where B is large
constexpr int MIN_TASKS = 16;  // split columns too when there are fewer row blocks

// One packed panel row: 16 fp32 columns, or 16 bf16 columns stored in the order that two unpacks with zero
// widen into columns 0-7 and 8-15 (put: [0-3, 8-11, 4-7, 12-15]).
inline void load_panel_row(const float* Bp, __m256& b0, __m256& b1) { b0 = _mm256_loadu_ps(Bp); b1 = _mm256_loadu_ps(Bp + 8); }
inline void load_panel_row(const uint16_t* Bp, __m256& b0, __m256& b1) {
  const __m256i v = _mm256_loadu_si256((const __m256i*)Bp), z = _mm256_setzero_si256();
  b0 = _mm256_castsi256_ps(_mm256_unpacklo_epi16(z, v));
  b1 = _mm256_castsi256_ps(_mm256_unpackhi_epi16(z, v));
}

// C(M<=MR, ncols<=NR) = (load ? C : 0) + A(M,K) @ Bp(K,16); A[r][k] = A[r*rs + k*ks].
template <int M, class TB>
inline void kernel(float* C, long ldc, const float* Ap, const TB* Bp, int K, bool load, int ncols, bool pad) {
  __m256 c0[M], c1[M];
  if (load) {
    if (ncols == NR) {
#pragma GCC unroll 8
      for (int r = 0; r < M; r++) { c0[r] = _mm256_loadu_ps(C + r * ldc); c1[r] = _mm256_loadu_ps(C + r * ldc + 8); }
    } else {
      alignas(32) float tmp[M][NR];
      for (int r = 0; r < M; r++)
        for (int j = 0; j < NR; j++) tmp[r][j] = j < ncols ? C[r * ldc + j] : 0.f;
#pragma GCC unroll 8
      for (int r = 0; r < M; r++) { c0[r] = _mm256_load_ps(tmp[r]); c1[r] = _mm256_load_ps(tmp[r] + 8); }
    }
  } else {
#pragma GCC unroll 8
    for (int r = 0; r < M; r++) { c0[r] = _mm256_setzero_ps(); c1[r] = _mm256_setzero_ps(); }
  }
  for (int k = 0; k < K; k++) {
    __m256 b0, b1;
    load_panel_row(Bp + k * NR, b0, b1);
    const float* a = Ap + k * MR;
#pragma GCC unroll 8
    for (int r = 0; r < M; r++) {
      __m256 av = _mm256_broadcast_ss(a + r);
      c0[r] = _mm256_fmadd_ps(av, b0, c0[r]);
      c1[r] = _mm256_fmadd_ps(av, b1, c1[r]);
    }
  }
  if (pad) {  // compute bf16, odd K: the +0 a dot-product instruction adds for k's missing partner (-0 becomes +0)
#pragma GCC unroll 8
    for (int r = 0; r < M; r++) { c0[r] = _mm256_add_ps(c0[r], _mm256_setzero_ps()); c1[r] = _mm256_add_ps(c1[r], _mm256_setzero_ps()); }
  }
  if (ncols == NR) {
#pragma GCC unroll 8
    for (int r = 0; r < M; r++) { _mm256_storeu_ps(C + r * ldc, c0[r]); _mm256_storeu_ps(C + r * ldc + 8, c1[r]); }
  } else {
    alignas(32) float tmp[M][NR];
#pragma GCC unroll 8
    for (int r = 0; r < M; r++) { _mm256_store_ps(tmp[r], c0[r]); _mm256_store_ps(tmp[r] + 8, c1[r]); }
    for (int r = 0; r < M; r++)
      for (int j = 0; j < ncols; j++) C[r * ldc + j] = tmp[r][j];
  }
}

template <class TB>
void kernel_rows(int m, float* C, long ldc, const float* Ap, const TB* Bp, int K, bool load, int nc, bool pad) {
  switch (m) {
    case 6: kernel<6>(C, ldc, Ap, Bp, K, load, nc, pad); break;
    case 5: kernel<5>(C, ldc, Ap, Bp, K, load, nc, pad); break;
    case 4: kernel<4>(C, ldc, Ap, Bp, K, load, nc, pad); break;
    case 3: kernel<3>(C, ldc, Ap, Bp, K, load, nc, pad); break;
    case 2: kernel<2>(C, ldc, Ap, Bp, K, load, nc, pad); break;
    default: kernel<1>(C, ldc, Ap, Bp, K, load, nc, pad); break;
  }
}

// c[j] = (s[0][j], ..., s[5][j], 0, 0) for j < 8, where s[i] = src + i*rs: six rows of 8 transposed.
inline void transpose6x8(__m256 c[8], const float* src, long rs) {
  const __m256 z = _mm256_setzero_ps();
  const __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + rs), r2 = _mm256_loadu_ps(src + 2 * rs);
  const __m256 r3 = _mm256_loadu_ps(src + 3 * rs), r4 = _mm256_loadu_ps(src + 4 * rs), r5 = _mm256_loadu_ps(src + 5 * rs);
  const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  const __m256 t6 = _mm256_unpacklo_ps(z, z), t7 = t6;  // rows 6 and 7: zero
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  c[0] = _mm256_permute2f128_ps(u0, u4, 0x20); c[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  c[2] = _mm256_permute2f128_ps(u2, u6, 0x20); c[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  c[4] = _mm256_permute2f128_ps(u0, u4, 0x31); c[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  c[6] = _mm256_permute2f128_ps(u2, u6, 0x31); c[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// Per-thread packing buffer for a block of A: tiles of MR rows, Ap[tile][k][MR] (static, no allocation).
thread_local float a_pack[(RB_WIDE / MR) * KC * MR];

// Bytes of B above which a GEMM takes row blocks of RB_WIDE rows (tests lower it to reach that path on small shapes).
std::atomic<size_t> g_wide_b_bytes{16u << 20};

// fp32 GEMMs of the wide sets read a row-major A in place instead of packing it (tests and benchmarks switch it).
std::atomic<bool> g_unpacked_a{true};

// Rows per task. Every row block streams B's panels once per k block; while B stays in cache (up to 16 MB: the
// layers of the bench shapes) that is cheap and RB's many tasks balance 2 threads best; past it (Qwen2.5-0.5B's
// gate/up and down weights, 17-35 MB, its 545 MB head) RB_WIDE rows read B a quarter as often: gate/up's forward
// went from 156-170 to 183-192 GFLOP/s and the head's from 151-154 to 176-179 on Zen 4 (848 rows). Any block
// size gives the same bits: each output is one FMA chain over k.
inline int row_block(int M, int K, int Ncols, size_t b_elem) {
  return (size_t)K * Ncols * b_elem > g_wide_b_bytes.load(std::memory_order_relaxed) && M > RB ? RB_WIDE : RB;
}

// Packs rows [r0,r1) x k [k0,k0+kc) of A(r,k) = A[r*rs + k*ks] into a_pack (rounded to bf16 when round).
void pack_a(const float* A, long rs, long ks, int r0, int r1, int k0, int kc, bool round) {
  if (rs == 1 && ks != 1) {
    // A(r, k) = A[k*ks + r] (dW: A is dout transposed): the block's rows are contiguous for each k, so k runs
    // outside and each tile takes its 6 values in two moves, one pass over each source row (was: a pass per
    // tile, value by value: 15 % of a dW's time against 37 % in its kernel)
    const int tiles = (r1 - r0 + MR - 1) / MR;
    for (int k = 0; k < kc; k++) {
      const float* src = A + (long)(k0 + k) * ks + r0;
      for (int t = 0; t < tiles; t++) {
        float* dst = a_pack + (size_t)t * KC * MR + (size_t)k * MR;
        const int m = std::min(MR, r1 - r0 - t * MR);
        if (m == MR) std::memcpy(dst, src + t * MR, MR * sizeof(float));
        else for (int i = 0; i < m; i++) dst[i] = src[t * MR + i];
      }
    }
    if (round) for (int t = 0; t < tiles; t++) round_bf16_inplace(a_pack + (size_t)t * KC * MR, (size_t)kc * MR);
    return;
  }
  for (int r = r0; r < r1; r += MR) {
    float* dst = a_pack + (size_t)((r - r0) / MR) * KC * MR;
    int m = std::min(MR, r1 - r);
    if (ks == 1) {
      int k = 0;
      if (m == MR) {
        // 6 rows x 8 k at a time: an 8x8 transpose (two rows zero), each k's 6 values stored as 4 + 2
        const float* src = A + (long)r * rs + k0;
        for (; k + 8 <= kc; k += 8) {
          __m256 c[8];
          transpose6x8(c, src + k, rs);
#pragma GCC unroll 8
          for (int j = 0; j < 8; j++) {
            float* d = dst + (k + j) * MR;
            _mm_storeu_ps(d, _mm256_castps256_ps128(c[j]));
            _mm_storel_pi((__m64*)(d + 4), _mm256_extractf128_ps(c[j], 1));
          }
        }
      }
      for (int i = 0; i < m; i++) {
        const float* src = A + (long)(r + i) * rs + k0;
        for (int kk = k; kk < kc; kk++) dst[kk * MR + i] = src[kk];
      }
    } else {
      for (int k = 0; k < kc; k++) {
        const float* src = A + (long)(k0 + k) * ks + (long)r * rs;
        for (int i = 0; i < m; i++) dst[k * MR + i] = src[i * rs];
      }
    }
    if (round) round_bf16_inplace(dst, (size_t)kc * MR);  // rows past m are never read
  }
}

// C(M,Ncols) (+)= A(M,K) @ B, with A(r,k) = A[r*rs + k*ks] and B packed into panels Bp[p][k][16].
template <class TB>
void gemm(float* C, long ldc, const float* A, long rs, long ks, const TB* Bp, int M, int Ncols, int K, bool accumulate,
          bool round_a) {
  // Tasks: row blocks x panel groups. A row block is packed once per k block and reused across its
  // panels, so panel groups are only split when there are too few row blocks to share out.
  int panels = (Ncols + NR - 1) / NR;
  const int rb_rows = row_block(M, K, Ncols, sizeof(TB));
  int rblocks = (M + rb_rows - 1) / rb_rows;
  int groups = std::min(panels, std::max(1, (MIN_TASKS + rblocks - 1) / rblocks));
  int pb_size = (panels + groups - 1) / groups, pblocks = (panels + pb_size - 1) / pb_size;
  const KernelSet set = kernel_set();
  const bool wide = set != KernelSet::avx2;
  // vdpbf16ps where the operands are bf16 (compute bf16: A rounded as packed, B bf16 panels)
  const bool dp = set == KernelSet::avx512bf16 && round_a && sizeof(TB) == 2;
  const long pstride = panel_stride<TB>(K, wide);
  if (wide && pb_size > 1 && pb_size % 2) pb_size++, pblocks = (panels + pb_size - 1) / pb_size;  // panels go in pairs
  parallel_for(rblocks * pblocks, [&](int task, int) {
    // compute bf16 runs with subnormals flushed (MXCSR FTZ + DAZ, this task only), as vdpbf16ps does whatever
    // MXCSR says: so the emulating sets and avx512-bf16 give the same bits (matmul_avx512.cc kernel_dp)
    const unsigned csr = _mm_getcsr();
    if (round_a) _mm_setcsr(csr | 0x8040u);
    int rb = task / pblocks, pb = task % pblocks;
    int r0 = rb * rb_rows, r1 = std::min(M, r0 + rb_rows);
    int p0 = pb * pb_size, p1 = std::min(panels, p0 + pb_size);
    for (int k0 = 0; k0 < K; k0 += KC) {
      int kc = std::min(KC, K - k0);
      bool load = accumulate || k0 > 0;
      if (wide && sizeof(TB) == 4 && !round_a && ks == 1 && g_unpacked_a.load(std::memory_order_relaxed)) {
        // fp32 with row-major A: the kernel broadcasts A's values where they are (packing bought nothing but
        // a copy: 6 % of a small training step)
        mm::block_f32_rowmajor(C + (long)r0 * ldc, ldc, A + (long)r0 * rs + k0, rs, r1 - r0, (const float*)Bp + (size_t)k0 * NR, pstride, p0, p1, Ncols, kc, load);
        continue;
      }
      pack_a(A, rs, ks, r0, r1, k0, kc, round_a);
      const bool pad = round_a && (kc & 1);  // only K's last block can be odd (KC is even)
      if (wide) {
        // the wide sets' blocks; a panel's k block starts k0*NR elements in for fp32 [k][16] and bf16 [k/2][16][2]
        if constexpr (sizeof(TB) == 4) mm::block_f32(C + (long)r0 * ldc, ldc, a_pack, r1 - r0, (const float*)Bp + (size_t)k0 * NR, pstride, p0, p1, Ncols, kc, load, pad);
        else mm::block_bf16(C + (long)r0 * ldc, ldc, a_pack, r1 - r0, (const uint16_t*)Bp + (size_t)k0 * NR, pstride, p0, p1, Ncols, kc, load, dp, pad);
        continue;
      }
      for (int p = p0; p < p1; p++) {
        const TB* B = Bp + (size_t)p * pstride + (size_t)k0 * NR;
        int nc = std::min(NR, Ncols - p * NR);
        for (int r = r0; r < r1; r += MR)
          kernel_rows(std::min(MR, r1 - r), C + r * ldc + p * NR, ldc, a_pack + (size_t)((r - r0) / MR) * KC * MR, B, kc, load, nc, pad);
      }
    }
    if (round_a) _mm_setcsr(csr);
  });
}


}  // namespace

size_t matmul_pack_floats(int N, int I, int O) {
  return std::max({panel_floats(I, O), panel_floats(O, I), panel_floats(N, I)}) + 64;
}

size_t matmul_packed_weight_floats(int I, int O) { return panel_floats(I, O); }

void matmul_pack_weight(float* wp, const float* w, int I, int O) { pack_b(wp, w, 1, I, I, O); }

static void add_bias(float* out, const float* b, int N, int O);

size_t matmul_packed_weight_halves(int I, int O) { return panel_floats(I, O); }

void matmul_pack_weight_bf16(uint16_t* wp, const uint16_t* w, int I, int O) { pack_b(wp, w, 1, I, I, O); }

void matmul_pack_weight_f32_as_bf16(uint16_t* wp, const float* w, int I, int O) { pack_b(wp, w, 1, I, I, O); }

void matmul_forward_prepacked_bf16(float* out, const float* in, const uint16_t* wp, const float* b, int N, int I, int O,
                                   Compute cmp) {
  gemm(out, O, in, I, 1, wp, N, O, I, false, cmp == Compute::bf16);
  if (b) add_bias(out, b, N, O);
}

// The packing workspace, 32-byte aligned; compute bf16 packs B as bf16 panels (half the bytes) in it.
static float* aligned(float* pack) { return (float*)(((uintptr_t)pack + 31) & ~(uintptr_t)31); }
static const float* aligned(const float* pack) { return aligned(const_cast<float*>(pack)); }

// B(k,j) = src[k*sk + j*sj] packed into the workspace: fp32 panels, or bf16 panels for compute bf16.
template <class TS>
static void pack_into(float* pack, const TS* src, long sk, long sj, int K, int Ncols, Compute cmp) {
  if (cmp == Compute::bf16) pack_b((uint16_t*)aligned(pack), src, sk, sj, K, Ncols);
  else pack_b(aligned(pack), src, sk, sj, K, Ncols);
}

// out (+)= A @ B with B packed by pack_into.
static void gemm_packed(float* C, long ldc, const float* A, long rs, long ks, const float* pack, int M, int Ncols, int K,
                        bool accumulate, Compute cmp) {
  if (cmp == Compute::bf16) gemm(C, ldc, A, rs, ks, (const uint16_t*)aligned(pack), M, Ncols, K, accumulate, true);
  else gemm(C, ldc, A, rs, ks, aligned(pack), M, Ncols, K, accumulate, false);
}

// out (+)= A @ B with B(k,j) = src[k*sk + j*sj] packed here.
template <class TS>
static void gemm_packing(float* C, long ldc, const float* A, long rs, long ks, float* pack, const TS* src, long sk, long sj,
                         int M, int Ncols, int K, bool accumulate, Compute cmp) {
  pack_into(pack, src, sk, sj, K, Ncols, cmp);
  gemm_packed(C, ldc, A, rs, ks, pack, M, Ncols, K, accumulate, cmp);
}

size_t matmul_set_wide_b_bytes(size_t bytes) { return g_wide_b_bytes.exchange(bytes); }
bool matmul_set_unpacked_a(bool on) { return g_unpacked_a.exchange(on); }

size_t matmul_weight_pack_floats(int I, int O) { return std::max(panel_floats(I, O), panel_floats(O, I)) + 64; }

// B(k=i, j=o) = w[o*I + i], as matmul_forward packs it
void matmul_pack_forward(float* pack, WeightRef w, int I, int O, Compute cmp) {
  if (w.f) pack_into(pack, w.f, 1, I, I, O, cmp);
  else pack_into(pack, w.h, 1, I, I, O, cmp);
}

void matmul_forward_packed(float* out, const float* pack, const float* in, int N, int I, int O, Compute cmp) {
  gemm_packed(out, O, in, I, 1, pack, N, O, I, false, cmp);
}

// B(k=o, j=i) = w[o*I + i], as matmul_backward packs it for din
void matmul_pack_backward_din(float* pack, const float* w, int I, int O, Compute cmp) { pack_into(pack, w, I, 1, O, I, cmp); }

void matmul_backward_din_packed(float* din, const float* pack, const float* dout, int N, int I, int O, Compute cmp) {
  gemm_packed(din, I, dout, O, 1, pack, N, I, O, true, cmp);
}

void matmul_forward(float* out, float* pack, const float* in, WeightRef w, const float* b, int N, int I, int O, Compute cmp) {
  if (w.f) { matmul_forward(out, pack, in, w.f, b, N, I, O, cmp); return; }
  gemm_packing(out, O, in, I, 1, pack, w.h, 1, I, N, O, I, false, cmp);
  if (b) add_bias(out, b, N, O);
}

void matmul_forward_prepacked(float* out, const float* in, const float* wp, const float* b, int N, int I, int O) {
  gemm(out, O, in, I, 1, wp, N, O, I, false, false);
  if (b) add_bias(out, b, N, O);
}

void matmul_forward(float* out, float* pack, const float* in, const float* w, const float* b, int N, int I, int O, Compute cmp) {
  gemm_packing(out, O, in, I, 1, pack, w, 1, I, N, O, I, false, cmp);  // B(k=i, j=o) = w[o*I + i]
  if (b) add_bias(out, b, N, O);
}

static void add_bias(float* out, const float* b, int N, int O) {
  {
    int chunks = (N + 255) / 256;
    parallel_for(chunks, [&](int c, int) {
      for (int n = c * 256; n < std::min(N, c * 256 + 256); n++) {
        float* o = out + (size_t)n * O;
        for (int j = 0; j < O; j++) o[j] += b[j];
      }
    });
  }
}

void matmul_backward(float* din, float* dw, float* db, float* pack, const float* dout, const float* in, const float* w,
                     int N, int I, int O, Compute cmp) {
  if (din) gemm_packing(din, I, dout, O, 1, pack, w, I, 1, N, I, O, true, cmp);  // B(k=o, j=i) = w[o*I + i]
  if (dw) gemm_packing(dw, I, dout, 1, O, pack, in, I, 1, O, I, N, true, cmp);  // B(k=n, j=i) = in[n*I + i]; A(o, n) = dout[n*O + o]
  if (db) {
    int chunks = (O + 63) / 64;
    parallel_for(chunks, [&](int c, int) {
      int o0 = c * 64, o1 = std::min(O, o0 + 64);
      for (int n = 0; n < N; n++) {
        const float* d = dout + (size_t)n * O;
        for (int o = o0; o < o1; o++) db[o] += d[o];
      }
    });
  }
}

// An operand as the contract reads it: itself (f32) or rounded to nearest even bf16.
static double opnd(float x, Compute cmp) {
  if (cmp == Compute::f32) return x;
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return x;  // NaN
  const uint32_t lsb = (u >> 16) & 1u;
  u = (u + 0x7fffu + lsb) & 0xffff0000u;
  float r;
  std::memcpy(&r, &u, 4);
  return r;
}

void matmul_forward_ref(float* out, const float* in, const float* w, const float* b, int N, int I, int O, Compute cmp) {
  for (int n = 0; n < N; n++)
    for (int o = 0; o < O; o++) {
      double s = 0;
      for (int i = 0; i < I; i++) s += opnd(in[(size_t)n * I + i], cmp) * opnd(w[(size_t)o * I + i], cmp);
      out[(size_t)n * O + o] = (float)(s + (b ? b[o] : 0.0));
    }
}

void matmul_backward_ref(float* din, float* dw, float* db, const float* dout, const float* in, const float* w,
                         int N, int I, int O, Compute cmp) {
  if (din)
    for (int n = 0; n < N; n++)
      for (int i = 0; i < I; i++) {
        double s = 0;
        for (int o = 0; o < O; o++) s += opnd(dout[(size_t)n * O + o], cmp) * opnd(w[(size_t)o * I + i], cmp);
        din[(size_t)n * I + i] += (float)s;
      }
  if (dw)
  for (int o = 0; o < O; o++)
    for (int i = 0; i < I; i++) {
      double s = 0;
      for (int n = 0; n < N; n++) s += opnd(dout[(size_t)n * O + o], cmp) * opnd(in[(size_t)n * I + i], cmp);
      dw[(size_t)o * I + i] += (float)s;
    }
  if (db)
    for (int o = 0; o < O; o++) {
      double s = 0;
      for (int n = 0; n < N; n++) s += dout[(size_t)n * O + o];
      db[o] += (float)s;
    }
}

}  // namespace zs
