// Grouped-query causal attention. Query head h reads key/value head h / (H/KVH). D % 8 == 0.
// Training, prefill and decode compute a row identically (scores as one FMA chain over d,
// the same softmax and P.V order), so sampler log-probs equal recomputed ones bit for bit.
// qkv rows hold [q (H*D) | k (KVH*D) | v (KVH*D)] after bias and RoPE.
// Legend: B sequences, N tokens, H heads, KVH kv heads, D head dim, T sequence length,
//         S cache slots, QKV = (H + 2*KVH)*D.
#pragma once
#include <cstddef>

namespace zs {

struct AttnDims { int H, KVH, D; };

// Per-thread scratch floats needed for sequences/contexts up to Tmax.
size_t attention_scratch_floats(int Tmax, int D);

// Packed batch: sequence b spans rows [off[b], off[b+1]) of qkv. scratch: `slices` * scratch_floats(Tmax),
// one slice per thread: at most `slices` threads take part (get_threads() is the usual value).
void attention_forward(float* out,         // (N, H*D)
                       float* lse,         // (N, H) saved log-sum-exp of the scaled scores
                       float* scratch,     // (slices, scratch_floats)
                       const float* qkv,   // (N, QKV)
                       const int* off,     // (B+1)
                       int B, int Tmax, AttnDims d, int slices);
// dqkv += gradient (q, k and v parts); dout and out are (N, H*D).
void attention_backward(float* dqkv,        // (N, QKV)
                        float* scratch,     // (slices, scratch_floats)
                        const float* dout,  // (N, H*D)
                        const float* out,   // (N, H*D)
                        const float* lse,   // (N, H)
                        const float* qkv,   // (N, QKV)
                        const int* off, int B, int Tmax, AttnDims d, int slices);
void attention_forward_ref(float* out, const float* qkv, const int* off, int B, AttnDims d);

// Inference against the KV cache of one layer. Keys are stored transposed, (R, KVH, D, Tp) with
// Tp = Tmax rounded up to 8, so decode scores read contiguous keys exactly as training does
// (no gathers); values are rows (R*Tmax, KVH*D). Rows own disjoint parts of both arenas.
size_t attention_kcache_floats(int R, int Tmax, AttnDims d);  // per layer
// Writes the k/v parts of qkv rows (token n: row rows[n], position pos[n]) into the cache.
void attention_cache_write(float* kt,          // (R, KVH, D, Tp)
                           float* vc,          // (R*Tmax, KVH*D)
                           const float* qkv,   // (N, q_stride) [q | k | v]
                           const int* rows, const int* pos, int N, long q_stride, int Tmax, AttnDims d);
// Copies positions [0, P) of row `from` to row `to` (rows that share a prompt share its prefill).
void attention_cache_copy(float* kt, float* vc, int from, int to, int P, int Tmax, AttnDims d);
// Token n's query attends positions [0, pos[n]] of its row.
void attention_cached_forward(float* out,        // (N, H*D)
                              float* scratch,
                              const float* q,    // (N, q_stride)
                              const float* kt,   // (R, KVH, D, Tp)
                              const float* vc,   // (R*Tmax, KVH*D)
                              const int* rows, const int* pos, int N, long q_stride, int Tmax, AttnDims d, int slices);
}  // namespace zs
