#include "model.h"

#include <atomic>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "attention.h"
#include "common.h"
#include "matmul.h"
#include "rmsnorm.h"
#include "rope.h"
#include "sampling.h"
#include "swiglu.h"
#include "threadpool.h"

namespace zs {

void Config::validate() const {
  auto need = [](bool ok, const char* what) { if (!ok) throw EngineError(std::string("invalid config: ") + what); };
  need(vocab_size > 0, "vocab_size must be > 0");
  need(hidden_size > 0, "hidden_size must be > 0");
  need(num_hidden_layers > 0, "num_hidden_layers must be > 0");
  need(num_attention_heads > 0, "num_attention_heads must be > 0");
  need(num_key_value_heads > 0 && num_attention_heads % num_key_value_heads == 0,
       "num_key_value_heads must divide num_attention_heads");
  need(head_dim > 0 && head_dim % 8 == 0, "head_dim must be a multiple of 8");
  need(intermediate_size > 0, "intermediate_size must be > 0");
  need(max_position_embeddings > 0, "max_position_embeddings must be > 0");
  need(rms_norm_eps > 0 && rope_theta > 0, "rms_norm_eps and rope_theta must be > 0");
}

Model::Model(const Config& c, Dtype d) : cfg(c), dtype(d) {
  cfg.validate();
  const int64_t C = c.hidden_size, HD = (int64_t)c.num_attention_heads * c.head_dim,
                KD = (int64_t)c.num_key_value_heads * c.head_dim, F = c.intermediate_size, V = c.vocab_size;
  size_t off = 0;
  auto add = [&](const std::string& name, std::vector<int64_t> shape) {
    size_t n = 1;
    for (auto s : shape) n *= (size_t)s;
    table.push_back({name, shape, off, n, shape.size() >= 2});
    off += n;
    return off - n;
  };
  embed = add("model.embed_tokens.weight", {V, C});
  for (int l = 0; l < c.num_hidden_layers; l++) {
    std::string p = "model.layers." + std::to_string(l) + ".";
    LayerOffsets lo;
    lo.ln1 = add(p + "input_layernorm.weight", {C});
    lo.qkv_w = add(p + "self_attn.q_proj.weight", {HD, C});
    add(p + "self_attn.k_proj.weight", {KD, C});
    add(p + "self_attn.v_proj.weight", {KD, C});
    lo.qkv_b = add(p + "self_attn.q_proj.bias", {HD});
    add(p + "self_attn.k_proj.bias", {KD});
    add(p + "self_attn.v_proj.bias", {KD});
    lo.o_w = add(p + "self_attn.o_proj.weight", {C, HD});
    lo.ln2 = add(p + "post_attention_layernorm.weight", {C});
    lo.gu_w = add(p + "mlp.gate_proj.weight", {F, C});
    add(p + "mlp.up_proj.weight", {F, C});
    lo.down_w = add(p + "mlp.down_proj.weight", {C, F});
    layers.push_back(lo);
  }
  norm = add("model.norm.weight", {C});
  head = c.tie_word_embeddings ? embed : add("lm_head.weight", {V, C});
  n_params = off;
  // no gradients here: a reference model or a generator's policy never trains (0.5B: 2 GB saved each)
  if (dtype == Dtype::f32) { params.assign(n_params, 0.f); return; }
  size_t vecs = 0;
  vec_at.assign(table.size(), 0);
  for (size_t ti = 0; ti < table.size(); ti++)
    if (table[ti].shape.size() == 1) { vec_at[ti] = vecs; vecs += table[ti].numel; }
  params.assign(vecs, 0.f);
  params16.assign(n_params, 0);
}

void Model::check_trainable() const {
  if (dtype != Dtype::f32) throw EngineError("a bf16 copy of a model is frozen: it cannot train (model dtype bf16 keeps the trained policy in fp32)");
}

const float* Model::vec(size_t off) const {
  if (dtype == Dtype::f32) return params.data() + off;
  for (size_t ti = 0; ti < table.size(); ti++)
    if (table[ti].offset == off && table[ti].shape.size() == 1) return params.data() + vec_at[ti];
  throw EngineError("no 1-D tensor at offset " + std::to_string(off));
}

WeightRef Model::mat(size_t off) const {
  WeightRef w;
  if (dtype == Dtype::f32) w.f = params.data() + off; else w.h = params16.data() + off;
  return w;
}

void Model::read_f32(float* out) const {
  if (dtype == Dtype::f32) { std::memcpy(out, params.data(), n_params * sizeof(float)); return; }
  for (size_t ti = 0; ti < table.size(); ti++) {
    const TensorInfo& t = table[ti];
    float* d = out + t.offset;
    if (t.shape.size() == 1) std::memcpy(d, params.data() + vec_at[ti], t.numel * sizeof(float));
    else for (size_t i = 0; i < t.numel; i++) d[i] = bf16_to_f32(params16[t.offset + i]);
  }
}

void Model::set_from_f32_as_bf16(const float* src) {
  if (dtype != Dtype::bf16) throw EngineError("set_from_f32_as_bf16 on an fp32 model");
  for (size_t ti = 0; ti < table.size(); ti++) {
    const TensorInfo& t = table[ti];
    const float* s = src + t.offset;
    if (t.shape.size() == 1) {
      float* d = params.data() + vec_at[ti];
      for (size_t i = 0; i < t.numel; i++) d[i] = bf16_to_f32(f32_to_bf16(s[i]));
    } else {
      uint16_t* d = params16.data() + t.offset;
      for (size_t i = 0; i < t.numel; i++) d[i] = f32_to_bf16(s[i]);
    }
  }
}

void Model::init_random(uint64_t seed, float std) {
  check_trainable();
  for (size_t ti = 0; ti < table.size(); ti++) {
    const TensorInfo& t = table[ti];
    float* p = params.data() + t.offset;
    bool is_norm = t.name.find("norm") != std::string::npos, is_bias = t.name.find(".bias") != std::string::npos;
    uint64_t tseed = seed * 1000003ULL + ti;
    for (size_t i = 0; i < t.numel; i++)
      p[i] = is_norm ? 1.f : is_bias ? 0.f : (float)(std * rng_normal(tseed, i));
  }
}

void Model::ensure_rope(int positions) {
  if (positions <= rope_positions) return;
  int P = std::max(positions, std::min(cfg.max_position_embeddings, 4096));
  rope_cos.assign((size_t)P * cfg.head_dim / 2, 0.f);
  rope_sin.assign((size_t)P * cfg.head_dim / 2, 0.f);
  rope_tables(rope_cos.data(), rope_sin.data(), P, cfg.head_dim, cfg.rope_theta);
  rope_positions = P;
}

Packed::Packed(const int* seq_lens, int nseq) : B(nseq) {
  off.assign(B + 1, 0);
  for (int b = 0; b < B; b++) {
    if (seq_lens[b] <= 0) throw EngineError("seqLens[" + std::to_string(b) + "] must be > 0");
    off[b + 1] = off[b] + seq_lens[b];
    Tmax = std::max(Tmax, seq_lens[b]);
  }
  N = off[B];
  pos.resize(N);
  start.assign(N, 0);
  for (int b = 0; b < B; b++) {
    start[off[b]] = 1;
    for (int i = off[b]; i < off[b + 1]; i++) pos[i] = i - off[b];
  }
}

// ZS_PROFILE=1 prints the time of each phase of forward/backward to stderr (for tuning).
namespace {
struct Prof {
  bool on = std::getenv("ZS_PROFILE") != nullptr;
  double acc[16] = {0};
  const char* names[16] = {"rmsnorm", "qkv", "rope", "attention", "o_proj", "residual", "gate_up", "swiglu", "down",
                           "head", "d_head", "d_mlp", "d_attn", "d_qkv", "d_rmsnorm", "embed"};
  std::chrono::steady_clock::time_point t = std::chrono::steady_clock::now();
  void tick(int i) {
    if (!on) return;
    auto now = std::chrono::steady_clock::now();
    acc[i] += std::chrono::duration<double, std::milli>(now - t).count();
    t = now;
  }
  void reset() { t = std::chrono::steady_clock::now(); }
  ~Prof() {
    if (!on) return;
    for (int i = 0; i < 16; i++) if (acc[i] > 0) std::fprintf(stderr, "%s %.1fms  ", names[i], acc[i]);
    std::fprintf(stderr, "\n");
  }
};
}  // namespace

// Grows a buffer to at least n floats (never shrinks: later calls reuse the pages).
static void grow(std::vector<float>& v, size_t n) {
  if (v.size() < n) v.resize(n);
}

// out = a + b, in parallel chunks.
static void residual_add(float* out, const float* a, const float* b, size_t n) {
  const size_t CH = 16384;
  parallel_for((int)((n + CH - 1) / CH), [&](int c, int) {
    for (size_t i = c * CH; i < std::min(n, (c + 1) * CH); i++) out[i] = a[i] + b[i];
  });
}

static void embed_forward(float* x, WeightRef wte, const int* tokens, int N, int C, int V) {
  for (int n = 0; n < N; n++) {
    if (tokens[n] < 0 || tokens[n] >= V) throw EngineError("token id " + std::to_string(tokens[n]) + " at position " +
                                                           std::to_string(n) + " is outside the vocabulary");
    float* d = x + (size_t)n * C;
    if (wte.f) { std::memcpy(d, wte.f + (size_t)tokens[n] * C, sizeof(float) * C); continue; }
    const uint16_t* s = wte.h + (size_t)tokens[n] * C;
    for (int i = 0; i < C; i++) d[i] = bf16_to_f32(s[i]);
  }
}

static std::atomic<int> g_logit_chunk_rows{0};
void set_logit_chunk_rows(int rows) { g_logit_chunk_rows.store(std::max(0, rows)); }
int logit_chunk_rows(int N, int V) {
  int forced = g_logit_chunk_rows.load();
  // 16 M floats (64 MiB) of logits per chunk: 110 rows at Qwen2.5's vocabulary. Each chunk reads the head's
  // panels and reads and writes its gradient (545 MB each there), so fewer, larger chunks are faster: a 0.5B
  // micro-batch of 848 rows took 11.3 s at 27 rows (4 M floats), 9.0 at 110, 8.3 at 220, 7.1 in one chunk
  long rows = forced > 0 ? forced : std::max<long>(16, (16L << 20) / std::max(1, V));
  return (int)std::max<long>(1, std::min<long>(rows, std::max(1, N)));
}

// The packing workspace of the layers' products: the largest any of them needs (the LM head packs into its own).
static size_t layer_pack_floats(const Model& m, int N) {
  const int C = m.cfg.hidden_size, F = m.cfg.intermediate_size, HD = m.cfg.num_attention_heads * m.cfg.head_dim;
  return std::max({matmul_pack_floats(N, C, m.qkv_dim()), matmul_pack_floats(N, HD, C), matmul_pack_floats(N, C, 2 * F),
                   matmul_pack_floats(N, F, C)});
}

const float* model_head_pack(Model& m) {
  const int C = m.cfg.hidden_size, V = m.cfg.vocab_size;
  grow(m.ws.head_fwd, matmul_weight_pack_floats(C, V));
  matmul_pack_forward(m.ws.head_fwd.data(), m.mat(m.head), C, V, m.compute);
  return m.ws.head_fwd.data();
}

void model_head_forward(Model& m, Acts& a, float* out, int r0, int n, const float* head_pack) {
  const int C = m.cfg.hidden_size, V = m.cfg.vocab_size;
  matmul_forward_packed(out, head_pack, a.lnf.data() + (size_t)r0 * C, n, C, V, m.compute);
}

void model_forward(Model& m, Acts& a, const int* tokens, const Packed& p, bool logits, bool keep) {
  const Config& c = m.cfg;
  const int N = p.N, C = c.hidden_size, L = c.num_hidden_layers, H = c.num_attention_heads, D = c.head_dim;
  const int F = c.intermediate_size, V = c.vocab_size, QKV = m.qkv_dim(), HD = H * D;
  const AttnDims ad{H, c.num_key_value_heads, D};
  if (p.Tmax > c.max_position_embeddings) throw EngineError("sequence longer than max_position_embeddings");
  m.ensure_rope(p.Tmax);
  const int LS = keep ? L : 1;                      // layer slots of the saved activations
  auto slot = [&](int l) { return keep ? l : 0; };
  auto xslot = [&](int l) { return keep ? l : l % 2; };  // the residual stream: in and out of a layer
  a.x.resize((size_t)(keep ? L + 1 : 2) * N * C);
  a.rstd1.resize((size_t)LS * N); a.rstd2.resize((size_t)LS * N); a.rstdf.resize(N);
  a.qkv.resize((size_t)LS * N * QKV); a.att.resize((size_t)LS * N * HD); a.lse.resize((size_t)LS * N * H);
  a.xmid.resize((size_t)LS * N * C); a.gu.resize((size_t)LS * N * 2 * F);
  a.lnf.resize((size_t)N * C);
  if (logits) a.logits.resize((size_t)N * V);
  Scratch& s = m.ws;
  grow(s.ln, (size_t)N * C); grow(s.h, (size_t)N * std::max(F, HD)); grow(s.tmp, (size_t)N * C);
  grow(s.pack, layer_pack_floats(m, N));
  const int slices = get_threads();  // read once: the scratch and the kernel agree on it
  grow(s.attn, attention_scratch_floats(p.Tmax, D) * slices);
  auto &ln = s.ln, &h = s.h, &tmp = s.tmp, &pack = s.pack, &scratch = s.attn;
  Prof pf;
  embed_forward(a.x.data(), m.mat(m.embed), tokens, N, C, V);
  for (int l = 0; l < L; l++) {
    const LayerOffsets& lo = m.layers[l];
    float* x = a.x.data() + (size_t)xslot(l) * N * C;
    float* qkv = a.qkv.data() + (size_t)slot(l) * N * QKV;
    float* att = a.att.data() + (size_t)slot(l) * N * HD;
    float* xmid = a.xmid.data() + (size_t)slot(l) * N * C;
    float* gu = a.gu.data() + (size_t)slot(l) * N * 2 * F;
    float* xout = a.x.data() + (size_t)xslot(l + 1) * N * C;
    pf.reset();
    rmsnorm_forward(ln.data(), a.rstd1.data() + (size_t)slot(l) * N, x, m.vec(lo.ln1), N, C, c.rms_norm_eps);
    pf.tick(0);
    matmul_forward(qkv, pack.data(), ln.data(), m.mat(lo.qkv_w), m.vec(lo.qkv_b), N, C, QKV, m.compute);
    pf.tick(1);
    rope_forward(qkv, p.pos.data(), m.rope_cos.data(), m.rope_sin.data(), N, H + ad.KVH, D, QKV);
    pf.tick(2);
    attention_forward(att, a.lse.data() + (size_t)slot(l) * N * H, scratch.data(), qkv, p.off.data(), p.B, p.Tmax, ad, slices);
    pf.tick(3);
    matmul_forward(tmp.data(), pack.data(), att, m.mat(lo.o_w), nullptr, N, HD, C, m.compute);
    pf.tick(4);
    residual_add(xmid, x, tmp.data(), (size_t)N * C);
    pf.tick(5);
    rmsnorm_forward(ln.data(), a.rstd2.data() + (size_t)slot(l) * N, xmid, m.vec(lo.ln2), N, C, c.rms_norm_eps);
    pf.tick(0);
    matmul_forward(gu, pack.data(), ln.data(), m.mat(lo.gu_w), nullptr, N, C, 2 * F, m.compute);
    pf.tick(6);
    swiglu_forward(h.data(), gu, N, F);
    pf.tick(7);
    matmul_forward(tmp.data(), pack.data(), h.data(), m.mat(lo.down_w), nullptr, N, F, C, m.compute);
    pf.tick(8);
    residual_add(xout, xmid, tmp.data(), (size_t)N * C);
    pf.tick(5);
  }
  rmsnorm_forward(a.lnf.data(), a.rstdf.data(), a.x.data() + (size_t)xslot(L) * N * C, m.vec(m.norm), N, C, c.rms_norm_eps);
  if (logits) model_head_forward(m, a, a.logits.data(), 0, N, model_head_pack(m));
  pf.tick(9);
}

void model_backward(Model& m, Acts& a, const float* dlogits, const int* tokens, const Packed& p) {
  const size_t V = m.cfg.vocab_size;
  model_backward(m, a, [&](int r0, int) { return dlogits + (size_t)r0 * V; }, std::max(1, p.N), tokens, p);
}

void model_backward(Model& m, Acts& a, const DlogitsRows& dlogits, int chunk_rows, const int* tokens, const Packed& p) {
  const Config& c = m.cfg;
  const int N = p.N, C = c.hidden_size, L = c.num_hidden_layers, H = c.num_attention_heads, D = c.head_dim;
  const int F = c.intermediate_size, V = c.vocab_size, QKV = m.qkv_dim(), HD = H * D;
  const AttnDims ad{H, c.num_key_value_heads, D};
  m.ensure_grads();  // throws for a bf16 copy (frozen)
  const float* W = m.params.data();
  float* G = m.grads.data();
  Scratch& s = m.ws;
  grow(s.dx, (size_t)N * C); grow(s.dln, (size_t)N * C); grow(s.ln, (size_t)N * C);
  grow(s.dh, (size_t)N * std::max(F, HD)); grow(s.hbuf, (size_t)N * F); grow(s.dgu, (size_t)N * 2 * F);
  grow(s.dqkv, (size_t)N * QKV);
  grow(s.pack, layer_pack_floats(m, N));  // covers the head's dW too (its X panels: panel_floats(N, C))
  grow(s.head_dx, matmul_weight_pack_floats(C, V));
  const int slices = get_threads();
  grow(s.attn, attention_scratch_floats(p.Tmax, D) * slices);
  auto &dx = s.dx, &dln = s.dln, &ln = s.ln, &dh = s.dh, &hbuf = s.hbuf, &dgu = s.dgu, &dqkv = s.dqkv, &pack = s.pack,
       &scratch = s.attn;
  std::fill(dx.begin(), dx.begin() + (size_t)N * C, 0.f);
  Prof pf;
  std::fill(dln.begin(), dln.begin() + (size_t)N * C, 0.f);
  // the head, chunk by chunk in row order: dln rows are independent; the head's gradient continues one FMA
  // chain over the rows (gemm accumulates into it), so the chunking cannot change a bit. Its weight is packed
  // for dln once, not once per chunk (at Qwen2.5's vocabulary that pack is 545 MB: it was 25 % of an update)
  matmul_pack_backward_din(s.head_dx.data(), W + m.head, C, V, m.compute);
  for (int r0 = 0; r0 < N; r0 += chunk_rows) {
    const int n = std::min(chunk_rows, N - r0);
    const float* d = dlogits(r0, n);
    matmul_backward_din_packed(dln.data() + (size_t)r0 * C, s.head_dx.data(), d, n, C, V, m.compute);
    matmul_backward(nullptr, G + m.head, nullptr, pack.data(), d, a.lnf.data() + (size_t)r0 * C, W + m.head, n, C, V, m.compute);
  }
  pf.tick(10);
  rmsnorm_backward(dx.data(), G + m.norm, dln.data(), a.x.data() + (size_t)L * N * C, a.rstdf.data(), W + m.norm, N, C);
  for (int l = L - 1; l >= 0; l--) {
    const LayerOffsets& lo = m.layers[l];
    const float* x = a.x.data() + (size_t)l * N * C;
    const float* qkv = a.qkv.data() + (size_t)l * N * QKV;
    const float* att = a.att.data() + (size_t)l * N * HD;
    const float* xmid = a.xmid.data() + (size_t)l * N * C;
    const float* gu = a.gu.data() + (size_t)l * N * 2 * F;
    // MLP: dx (grad at the layer output) flows to xmid unchanged plus through the MLP
    pf.reset();
    rmsnorm_forward(ln.data(), nullptr, xmid, W + lo.ln2, N, C, c.rms_norm_eps);
    swiglu_forward(hbuf.data(), gu, N, F);
    pf.tick(7);
    std::fill(dh.begin(), dh.begin() + (size_t)N * F, 0.f);
    matmul_backward(dh.data(), G + lo.down_w, nullptr, pack.data(), dx.data(), hbuf.data(), W + lo.down_w, N, F, C, m.compute);
    swiglu_backward(dgu.data(), dh.data(), gu, N, F);
    std::fill(dln.begin(), dln.begin() + (size_t)N * C, 0.f);
    matmul_backward(dln.data(), G + lo.gu_w, nullptr, pack.data(), dgu.data(), ln.data(), W + lo.gu_w, N, C, 2 * F, m.compute);
    pf.tick(11);
    rmsnorm_backward(dx.data(), G + lo.ln2, dln.data(), xmid, a.rstd2.data() + (size_t)l * N, W + lo.ln2, N, C);
    pf.tick(14);
    // attention
    std::fill(dh.begin(), dh.begin() + (size_t)N * HD, 0.f);
    matmul_backward(dh.data(), G + lo.o_w, nullptr, pack.data(), dx.data(), att, W + lo.o_w, N, HD, C, m.compute);
    std::fill(dqkv.begin(), dqkv.begin() + (size_t)N * QKV, 0.f);
    attention_backward(dqkv.data(), scratch.data(), dh.data(), att, a.lse.data() + (size_t)l * N * H, qkv,
                       p.off.data(), p.B, p.Tmax, ad, slices);
    pf.tick(12);
    rope_backward(dqkv.data(), p.pos.data(), m.rope_cos.data(), m.rope_sin.data(), N, H + ad.KVH, D, QKV);
    rmsnorm_forward(ln.data(), nullptr, x, W + lo.ln1, N, C, c.rms_norm_eps);
    std::fill(dln.begin(), dln.begin() + (size_t)N * C, 0.f);
    matmul_backward(dln.data(), G + lo.qkv_w, G + lo.qkv_b, pack.data(), dqkv.data(), ln.data(), W + lo.qkv_w, N, C, QKV, m.compute);
    pf.tick(13);
    rmsnorm_backward(dx.data(), G + lo.ln1, dln.data(), x, a.rstd1.data() + (size_t)l * N, W + lo.ln1, N, C);
    pf.tick(14);
  }
  // embedding: scatter-add in token order, split over columns
  float* ge = G + m.embed;
  int cchunks = (C + 31) / 32;
  parallel_for(cchunks, [&](int cc, int) {
    int i0 = cc * 32, i1 = std::min(C, i0 + 32);
    for (int n = 0; n < N; n++) {
      float* g = ge + (size_t)tokens[n] * C;
      const float* d = dx.data() + (size_t)n * C;
      for (int i = i0; i < i1; i++) g[i] += d[i];
    }
  });
  pf.tick(15);
}

}  // namespace zs
