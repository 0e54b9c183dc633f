#include "generate.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <vector>

#include "attention.h"
#include "common.h"
#include "matmul.h"
#include "rmsnorm.h"
#include "rope.h"
#include "swiglu.h"
#include "threadpool.h"

namespace zs {

const char* const SampleProfile::kPhaseNames[SampleProfile::kPhases] = {"embed", "norm+qkv", "rope+kv", "attention",
                                                                         "o_proj", "mlp", "head"};

std::string SampleProfile::describe() const {
  char buf[160];
  std::snprintf(buf, sizeof buf, "sample: setup %.1fms prefill %.1fms sampling %.1fms decode %.1fms |", setup, prefill,
                sampling, decode);
  std::string s = buf;
  for (int i = 0; i < kPhases; i++) {
    std::snprintf(buf, sizeof buf, " %s %.1fms", kPhaseNames[i], phase[i]);
    s += buf;
  }
  return s;
}

PromptPlan plan_prompts(const SampleRequest& req) {
  const int R = req.R;
  PromptPlan p;
  p.owner.resize(R);
  p.slot.resize(R);
  std::vector<long> off(R + 1, 0);
  for (int r = 0; r < R; r++) {
    if (req.prompt_lens[r] <= 0) throw EngineError("prompts[" + std::to_string(r) + "] is empty");
    off[r + 1] = off[r] + req.prompt_lens[r];
    p.max_prompt = std::max(p.max_prompt, req.prompt_lens[r]);
  }
  std::map<std::vector<int>, int> first;  // prompt -> the row that prefills it
  for (int r = 0; r < R; r++) {
    std::vector<int> key(req.prompts + off[r], req.prompts + off[r + 1]);
    auto it = first.find(key);
    if (it != first.end()) {
      p.owner[r] = it->second;
      p.slot[r] = p.slot[it->second];
      continue;
    }
    first.emplace(key, r);
    p.owner[r] = r;
    p.slot[r] = (int)p.unique.size();
    p.unique.push_back(r);
    for (int i = 0; i < req.prompt_lens[r]; i++) {
      p.tokens.push_back(key[i]); p.pos.push_back(i); p.rows.push_back(r);
    }
    p.last.push_back((int)p.tokens.size() - 1);
  }
  return p;
}

namespace {

// Lap timer feeding the caller's SampleProfile; every call is a no-op without one.
struct Laps {
  SampleProfile* prof;
  std::chrono::steady_clock::time_point t{};
  explicit Laps(SampleProfile* p) : prof(p) { restart(); }
  void restart() { if (prof) t = std::chrono::steady_clock::now(); }
  void step(double SampleProfile::*field) { if (prof) prof->*field += since(); }
  void phase(int i) { if (prof) prof->phase[i] += since(); }
  double since() {
    auto now = std::chrono::steady_clock::now();
    double ms = std::chrono::duration<double, std::milli>(now - t).count();
    t = now;
    return ms;
  }
};

// Every weight matrix packed once per sample() call: fp32 panels, or for a bf16 copy bf16 panels (half the
// bytes; the kernel widens them exactly as it loads them, so the products are the same).
struct PackedWeights {
  std::vector<float> buf;
  std::vector<uint16_t> buf16;
  std::vector<size_t> qkv, o, gu, down;
  size_t head = 0;
  Compute compute = Compute::f32;
  explicit PackedWeights(const Model& m) {
    const Config& c = m.cfg;
    const int C = c.hidden_size, HD = c.num_attention_heads * c.head_dim, F = c.intermediate_size;
    size_t total = 0;
    auto reserve = [&](int I, int O) { size_t at = total; total += matmul_packed_weight_floats(I, O); return at; };
    for (int l = 0; l < c.num_hidden_layers; l++) {
      qkv.push_back(reserve(C, m.qkv_dim())); o.push_back(reserve(HD, C));
      gu.push_back(reserve(C, 2 * F)); down.push_back(reserve(F, C));
    }
    head = reserve(C, c.vocab_size);
    // bf16 panels for a bf16 copy, and for compute bf16 (fp32 weights rounded as they are packed)
    const bool half = m.dtype == Dtype::bf16 || m.compute == Compute::bf16;
    compute = m.compute;
    if (half) buf16.resize(total); else buf.resize(total);
    auto pack = [&](size_t at, size_t off, int I, int O) {
      WeightRef w = m.mat(off);
      if (w.h) matmul_pack_weight_bf16(&buf16[at], w.h, I, O);
      else if (half) matmul_pack_weight_f32_as_bf16(&buf16[at], w.f, I, O);
      else matmul_pack_weight(&buf[at], w.f, I, O);
    };
    for (int l = 0; l < c.num_hidden_layers; l++) {
      const LayerOffsets& lo = m.layers[l];
      pack(qkv[l], lo.qkv_w, C, m.qkv_dim());
      pack(o[l], lo.o_w, HD, C);
      pack(gu[l], lo.gu_w, C, 2 * F);
      pack(down[l], lo.down_w, F, C);
    }
    pack(head, m.head, C, c.vocab_size);
  }
  // out (N,O) = in (N,I) @ the matrix packed at `at` (+ b)
  void forward(float* out, const float* in, size_t at, const float* b, int N, int I, int O) const {
    if (!buf16.empty()) matmul_forward_prepacked_bf16(out, in, &buf16[at], b, N, I, O, compute);
    else matmul_forward_prepacked(out, in, &buf[at], b, N, I, O);
  }
};

// The buffers of one call, by name: views of the model's SampleScratch (grown, never shrunk), sized
// once for R rows and forwards of up to maxN = max(prefill tokens, R) tokens.
struct Workspace {
  int R = 0, Tmax = 0, slices = 0;  // slices: threads that may take part (attention and sampler scratch)
  AttnDims ad{};
  float *kcache, *vcache;           // per layer: attention_kcache_floats(R, Tmax), (R*Tmax, KVH*D)
  float *x, *ln, *tmp, *last, *lnl; // (maxN, C)
  float *qkv;                       // (maxN, QKV)
  float *att;                       // (maxN, H*D)
  float *gu;                        // (maxN, 2F)
  float *h;                         // (maxN, F)
  float *attn;                      // (slices, attention_scratch_floats(Tmax, D))
  float *logits;                    // (R, V) each row's next-token logits
  float *step_logits;               // (R, V) the logits out of one forward (U <= R rows in prefill)
  float *prob;                      // (slices, V) sampler scratch
  int *idx;                         // (slices, V) sampler scratch

  float* kcache_layer(int l) const { return kcache + (size_t)l * attention_kcache_floats(R, Tmax, ad); }
  float* vcache_layer(int l) const { return vcache + (size_t)l * R * Tmax * ad.KVH * ad.D; }
};

template <class T> T* grown(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

// Step 2: the KV arena and step buffers, grown in the model's scratch. Stale arena entries past a
// row's position are never read unmasked (scores past it are and-masked to exactly 0), so reuse
// across calls cannot change a result.
Workspace make_workspace(Model& m, int R, int Tmax, int maxN) {
  const Config& c = m.cfg;
  const size_t C = c.hidden_size, HD = (size_t)c.num_attention_heads * c.head_dim, F = c.intermediate_size;
  const size_t L = c.num_hidden_layers, V = c.vocab_size, N = maxN;
  SampleScratch& s = m.ws.gen;
  Workspace ws;
  ws.R = R; ws.Tmax = Tmax;
  ws.ad = AttnDims{c.num_attention_heads, c.num_key_value_heads, c.head_dim};
  ws.kcache = grown(s.kcache, L * attention_kcache_floats(R, Tmax, ws.ad));
  ws.vcache = grown(s.vcache, L * R * Tmax * c.num_key_value_heads * c.head_dim);
  ws.x = grown(s.x, N * C); ws.ln = grown(s.ln, N * C); ws.tmp = grown(s.tmp, N * C);
  ws.qkv = grown(s.qkv, N * m.qkv_dim()); ws.att = grown(s.att, N * HD); ws.gu = grown(s.gu, N * 2 * F);
  ws.h = grown(s.h, N * F); ws.last = grown(s.last, N * C); ws.lnl = grown(s.lnl, N * C);
  ws.slices = get_threads();  // read once: the scratch and the kernels agree on it
  ws.attn = grown(s.attn, attention_scratch_floats(Tmax, c.head_dim) * ws.slices);
  ws.logits = grown(s.logits, (size_t)R * V); ws.step_logits = grown(s.step_logits, (size_t)R * V);
  ws.prob = grown(s.prob, (size_t)ws.slices * V); ws.idx = grown(s.idx, (size_t)ws.slices * V);
  return ws;
}

// One forward over N new tokens (token n: row rows[n], position pos[n]) that writes their K/V into the
// arena; logits (n_out, V) for the token indices in want[].
void forward_step(float* logits,                                    // (n_out, V)
                  Workspace& ws,                                    // KV arena (written) and step buffers
                  const int* tokens, const int* pos, const int* rows,  // (N)
                  const int* want,                                  // (n_out)
                  const Model& m, const PackedWeights& pw, int N, int n_out, SampleProfile* prof) {
  const Config& c = m.cfg;
  const int C = c.hidden_size, H = c.num_attention_heads, D = c.head_dim;
  const int F = c.intermediate_size, QKV = m.qkv_dim(), HD = H * D;
  const AttnDims& ad = ws.ad;
  const WeightRef wte = m.mat(m.embed);
  float* x = ws.x;
  Laps ph(prof);
  for (int n = 0; n < N; n++) {
    if (tokens[n] < 0 || tokens[n] >= c.vocab_size) throw EngineError("token id outside the vocabulary in a prompt");
    float* d = x + (size_t)n * C;
    if (wte.f) { std::memcpy(d, wte.f + (size_t)tokens[n] * C, sizeof(float) * C); continue; }
    const uint16_t* s = wte.h + (size_t)tokens[n] * C;
    for (int i = 0; i < C; i++) d[i] = bf16_to_f32(s[i]);
  }
  for (int l = 0; l < c.num_hidden_layers; l++) {
    const LayerOffsets& lo = m.layers[l];
    float* K = ws.kcache_layer(l);
    float* Vc = ws.vcache_layer(l);
    ph.phase(0);
    rmsnorm_forward(ws.ln, nullptr, x, m.vec(lo.ln1), N, C, c.rms_norm_eps);
    pw.forward(ws.qkv, ws.ln, pw.qkv[l], m.vec(lo.qkv_b), N, C, QKV);
    ph.phase(1);
    rope_forward(ws.qkv, pos, m.rope_cos.data(), m.rope_sin.data(), N, H + ad.KVH, D, QKV);
    attention_cache_write(K, Vc, ws.qkv, rows, pos, N, QKV, ws.Tmax, ad);
    ph.phase(2);
    attention_cached_forward(ws.att, ws.attn, ws.qkv, K, Vc, rows, pos, N, QKV, ws.Tmax, ad, ws.slices);
    ph.phase(3);
    pw.forward(ws.tmp, ws.att, pw.o[l], nullptr, N, HD, C);
    for (size_t i = 0; i < (size_t)N * C; i++) x[i] += ws.tmp[i];
    ph.phase(4);
    rmsnorm_forward(ws.ln, nullptr, x, m.vec(lo.ln2), N, C, c.rms_norm_eps);
    pw.forward(ws.gu, ws.ln, pw.gu[l], nullptr, N, C, 2 * F);
    swiglu_forward(ws.h, ws.gu, N, F);
    pw.forward(ws.tmp, ws.h, pw.down[l], nullptr, N, F, C);
    for (size_t i = 0; i < (size_t)N * C; i++) x[i] += ws.tmp[i];
    ph.phase(5);
  }
  for (int i = 0; i < n_out; i++) std::memcpy(ws.last + (size_t)i * C, x + (size_t)want[i] * C, sizeof(float) * C);
  rmsnorm_forward(ws.lnl, nullptr, ws.last, m.vec(m.norm), n_out, C, c.rms_norm_eps);
  pw.forward(logits, ws.lnl, pw.head, nullptr, n_out, C, c.vocab_size);
  ph.phase(6);
}

// Step 3: one forward over every distinct prompt, then each row's first logits, and the prompt's
// KV cache copied to every row that repeats it.
void prefill(Workspace& ws, const PromptPlan& plan, const int* prompt_lens, const Model& m, const PackedWeights& pw,
             SampleProfile* prof) {
  const int V = m.cfg.vocab_size;
  forward_step(ws.step_logits, ws, plan.tokens.data(), plan.pos.data(), plan.rows.data(), plan.last.data(), m, pw,
               (int)plan.tokens.size(), (int)plan.unique.size(), prof);
  for (int r = 0; r < ws.R; r++) {
    std::memcpy(ws.logits + (size_t)r * V, ws.step_logits + (size_t)plan.slot[r] * V, sizeof(float) * V);
    if (plan.owner[r] == r) continue;
    for (int l = 0; l < m.cfg.num_hidden_layers; l++)
      attention_cache_copy(ws.kcache_layer(l), ws.vcache_layer(l), plan.owner[r], r, prompt_lens[r], ws.Tmax, ws.ad);
  }
}

// One draw for each active row from its logits in ws.logits; the draw is (seeds[r], step), so a
// row's token never depends on its neighbours or the thread that draws it.
void sample_rows(SampleOutput& out, Workspace& ws, const std::vector<int>& active, const SampleRequest& req, int step, int V) {
  parallel_for((int)active.size(), [&](int i, int tid) {
    const int r = active[i];
    float lp;
    int y = sample_row(&lp, ws.idx + (size_t)tid * V, ws.prob + (size_t)tid * V, ws.logits + (size_t)r * V, V, req.s,
                       rng_uniform(req.seeds[r], (uint64_t)step));
    out.tokens[(size_t)r * req.max_new + step] = y;
    out.logprobs[(size_t)r * req.max_new + step] = lp;
    out.lens[r] = step + 1;
    if (std::find(req.stop, req.stop + req.nstop, y) != req.stop + req.nstop) out.finish[r] = 0;
  }, ws.slices);
}

// Step 4: draw, drop the rows that stopped or are full, one forward over the rest; until none is left.
void decode(SampleOutput& out, Workspace& ws, const SampleRequest& req, const Model& m, const PackedWeights& pw,
            SampleProfile* prof) {
  const int R = req.R, V = m.cfg.vocab_size;
  std::vector<int> active(R), tok(R), pos(R), rows(R), want(R);
  for (int r = 0; r < R; r++) { active[r] = r; out.lens[r] = 0; out.finish[r] = 1; }
  Laps laps(prof);
  for (int step = 0; step < req.max_new && !active.empty(); step++) {
    sample_rows(out, ws, active, req, step, V);
    laps.step(&SampleProfile::sampling);
    std::vector<int> still;
    for (int r : active) if (out.finish[r] == 1 && step + 1 < req.max_new) still.push_back(r);
    active.swap(still);
    const int n = (int)active.size();
    if (!n) break;
    for (int i = 0; i < n; i++) {
      const int r = active[i];
      tok[i] = out.tokens[(size_t)r * req.max_new + step];
      pos[i] = req.prompt_lens[r] + step;
      rows[i] = r;
      want[i] = i;
    }
    forward_step(ws.step_logits, ws, tok.data(), pos.data(), rows.data(), want.data(), m, pw, n, n, prof);
    for (int i = 0; i < n; i++)
      std::memcpy(ws.logits + (size_t)active[i] * V, ws.step_logits + (size_t)i * V, sizeof(float) * V);
    laps.step(&SampleProfile::decode);
  }
}

}  // namespace

void model_sample(Model& m, const SampleRequest& req, SampleOutput& out, SampleProfile* prof) {
  Laps laps(prof);
  const PromptPlan plan = plan_prompts(req);
  const int Tmax = plan.max_prompt + req.max_new;
  if (Tmax > m.cfg.max_position_embeddings) throw EngineError("prompt + maxNewTokens exceeds max_position_embeddings");
  m.ensure_rope(Tmax);
  PackedWeights pw(m);
  Workspace ws = make_workspace(m, req.R, Tmax, std::max<int>((int)plan.tokens.size(), req.R));
  laps.step(&SampleProfile::setup);
  prefill(ws, plan, req.prompt_lens, m, pw, prof);
  laps.step(&SampleProfile::prefill);
  decode(out, ws, req, m, pw, prof);
}

}  // namespace zs
