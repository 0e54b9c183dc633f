// The Qwen2 decoder: config, the tensor table (one flat buffer for parameters; gradients and AdamW
// moments mirror it), and the packed forward/backward over variable-length sequences.
// Legend: B sequences, N tokens, C hidden, H/KVH heads, D head dim, F FFN, V vocab, L layers.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "matmul.h"

namespace zs {

struct Config {
  int vocab_size = 0, hidden_size = 0, num_hidden_layers = 0, num_attention_heads = 0, num_key_value_heads = 0;
  int head_dim = 0, intermediate_size = 0, max_position_embeddings = 0;
  float rope_theta = 1e6f, rms_norm_eps = 1e-6f;
  bool tie_word_embeddings = true;
  void validate() const;  // throws EngineError naming the bad field
};

struct TensorInfo {
  std::string name;           // Hugging Face name
  std::vector<int64_t> shape;
  size_t offset, numel;
  bool decay;                 // weight decay applies (>= 2-D)
};

// Per-layer offsets into the flat buffer. q/k/v weights are adjacent (one fused QKV matmul),
// as are q/k/v biases and gate/up weights (one fused gate_up matmul).
struct LayerOffsets { size_t ln1, qkv_w, qkv_b, o_w, ln2, gu_w, down_w; };

// Activations saved for backward (allocated per call by the model, never by kernels).
struct Acts {
  std::vector<float> x;        // (L+1, N, C) residual stream at each layer input; [L] = final
  std::vector<float> rstd1, rstd2, rstdf;  // (L, N), (L, N), (N)
  std::vector<float> qkv, att, lse, xmid, gu;  // (L,N,QKV), (L,N,H*D), (L,N,H), (L,N,C), (L,N,2F)
  std::vector<float> lnf, logits;          // (N,C), (N,V) only when model_forward is asked for all logits
};

// Buffers of sampling (generate.cc), by name; shapes in its Workspace.
struct SampleScratch {
  std::vector<float> kcache, vcache;                    // the KV arena
  std::vector<float> x, ln, tmp, last, lnl, qkv, att, gu, h, attn;  // one forward's step buffers
  std::vector<float> logits, step_logits, prob;         // each row's next-token logits; sampler scratch
  std::vector<int> idx;                                 // sampler scratch
};

// Temporaries of forward/backward, kept between calls (grown, never shrunk: no page faults per step).
struct Scratch {
  std::vector<float> ln, h, tmp, pack, attn, dx, dln, dh, hbuf, dgu, dqkv, lp, ent, dlp, dent;
  std::vector<float> logit_rows, dlogits;  // one chunk of logits rows and their gradient (logit_chunk_rows x V)
  std::vector<float> head_fwd, head_dx;    // the LM head's panels for logits and for dln, packed once per call
  SampleScratch gen;
};

// A model's weights in memory: fp32 (the trained policy's master weights, or any copy), or bf16 (a frozen
// copy: a reference model, a generator's policy; model dtype bf16). A bf16 model holds exactly the values of
// an fp32 model whose every tensor was rounded to bf16 (nearest, ties to even), and computes in fp32 on them:
// the same bits as that fp32 model in forward, log-probs and sampling, in half the bytes. It never trains.
enum class Dtype { f32, bf16 };

struct Model {
  Config cfg;
  Dtype dtype = Dtype::f32;
  // The precision of every linear layer's products (the LM head included), forward, backward and sampling:
  // f32, or bf16 operands with fp32 accumulation (model.compute_dtype; matmul.h). Weights, norms, attention,
  // the softmax, the loss, gradients' sums and AdamW stay fp32. A setting of the model, not of its weights.
  Compute compute = Compute::f32;
  std::vector<TensorInfo> table;
  std::vector<LayerOffsets> layers;
  size_t embed = 0, norm = 0, head = 0;  // head == embed when tied
  size_t n_params = 0;
  // fp32: params holds every tensor at its table offset. bf16: params16 holds the matrices at their table
  // offsets, and params only the 1-D tensors (norm weights, biases: bf16-exact values), packed in table
  // order at vec_at[table offset]; vec() and mat() hide the difference from the kernels.
  std::vector<float> params, grads;  // grads: empty until the first backward (frozen copies never hold them)
  std::vector<uint16_t> params16;
  std::vector<size_t> vec_at;        // bf16: per table entry, the offset of a 1-D tensor in params
  // Allocates the gradients (zeros) of a model that trains; a no-op once they exist.
  void ensure_grads() { check_trainable(); if (grads.size() != n_params) grads.assign(n_params, 0.f); }
  // Throws for a bf16 copy: it is frozen (model dtype bf16 keeps the trained policy in fp32).
  void check_trainable() const;
  const float* vec(size_t off) const;  // a 1-D tensor (or the adjacent q/k/v biases) at a table offset
  WeightRef mat(size_t off) const;     // a matrix at a table offset
  // Every tensor as fp32 values into out (n_params floats, table order): exact for both dtypes.
  void read_f32(float* out) const;
  // bf16 copy from fp32 values (n_params floats, table order), rounded to nearest even.
  void set_from_f32_as_bf16(const float* src);
  std::vector<float> rope_cos, rope_sin;  // (P, D/2)
  int rope_positions = 0;
  std::mutex mu;                          // one long call at a time per model
  Acts acts;                              // buffers of the current call (guarded by mu)
  Scratch ws;

  explicit Model(const Config& c, Dtype d = Dtype::f32);  // builds the table, zero weights
  void init_random(uint64_t seed, float std);
  void ensure_rope(int positions);
  int qkv_dim() const { return (cfg.num_attention_heads + 2 * cfg.num_key_value_heads) * cfg.head_dim; }
};

// Packed batch with per-token positions and sequence starts, built from seqLens.
struct Packed {
  int B = 0, N = 0, Tmax = 0;
  std::vector<int> off, pos;
  std::vector<uint8_t> start;
  Packed(const int* seq_lens, int B);
};


// logits = false: stops at the final norm (a.lnf); the head then runs in chunks of rows (model_head_forward),
// so no (N,V) buffer exists. Every logits row is the same FMA chain either way.
// keep = false (a forward-only pass: logits, log-probs of a reference, a proximal or an old policy):
// every layer's activations share one slot (the residual stream two), the same arithmetic in the
// same order, so the same bits with 1/L of the memory; the backward needs keep = true.
void model_forward(Model& m, Acts& a, const int* tokens, const Packed& p, bool logits = true, bool keep = true);
// The LM head packed for model_head_forward (into m.ws.head_fwd), once per call: valid until the weights change.
const float* model_head_pack(Model& m);
// logits rows [r0, r0+n) = lnf rows @ head^T, into out (n,V), with the head's panels from model_head_pack.
void model_head_forward(Model& m, Acts& a, float* out, int r0, int n, const float* head_pack);
// Rows of logits the chunked paths hold at once: set_logit_chunk_rows(0) = automatic (about 16 M floats
// per chunk, at least 16 rows); a positive value forces it (tests).
void set_logit_chunk_rows(int rows);
int logit_chunk_rows(int N, int V);
// The dlogits rows [r0, r0+n) of a chunked backward: the callback fills and returns an (n,V) buffer.
using DlogitsRows = std::function<const float*(int r0, int n)>;
// Backward from dlogits (N,V); gradients accumulate into m.grads.
void model_backward(Model& m, Acts& a, const float* dlogits, const int* tokens, const Packed& p);
// The same with dlogits produced chunk by chunk (rows in order, so the head's gradient is the same FMA chain).
void model_backward(Model& m, Acts& a, const DlogitsRows& dlogits, int chunk_rows, const int* tokens, const Packed& p);

}  // namespace zs
