#include "generate.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
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
namespace {

// Every weight matrix packed once per sample() call.
struct PackedWeights {
  std::vector<float> buf;
  std::vector<size_t> qkv, o, gu, down;
  size_t head = 0;
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
    buf.resize(total);
    const float* W = m.params.data();
    for (int l = 0; l < c.num_hidden_layers; l++) {
      const LayerOffsets& lo = m.layers[l];
      matmul_pack_weight(&buf[qkv[l]], W + lo.qkv_w, C, m.qkv_dim());
      matmul_pack_weight(&buf[o[l]], W + lo.o_w, HD, C);
      matmul_pack_weight(&buf[gu[l]], W + lo.gu_w, C, 2 * F);
      matmul_pack_weight(&buf[down[l]], W + lo.down_w, F, C);
    }
    matmul_pack_weight(&buf[head], W + m.head, C, c.vocab_size);
  }
};

// Step buffers, borrowed from the model's scratch (grown, never shrunk).
struct Workspace {
  float *x, *ln, *qkv, *att, *tmp, *gu, *h, *scratch, *last, *lnl;
  int slices;  // attention scratch slices (threads that may take part)
  Workspace(Model& m, int maxN, int Tmax) {
    const Config& c = m.cfg;
    const size_t C = c.hidden_size, HD = (size_t)c.num_attention_heads * c.head_dim, F = c.intermediate_size;
    auto take = [&](int i, size_t n) { auto& v = m.ws.gen[i]; if (v.size() < n) v.resize(n); return v.data(); };
    x = take(0, maxN * C); ln = take(1, maxN * C); tmp = take(2, maxN * C); qkv = take(3, maxN * (size_t)m.qkv_dim());
    att = take(4, maxN * HD); gu = take(5, maxN * 2 * F); h = take(6, maxN * F); last = take(7, maxN * C);
    lnl = take(8, maxN * C);
    slices = get_threads();
    scratch = take(9, attention_scratch_floats(Tmax, c.head_dim) * slices);
  }
};

// ZS_PROFILE: time per phase of infer_step, printed by model_sample (a tuning aid: process-wide
// counters, meaningful with one sampling call at a time).
const bool g_prof = std::getenv("ZS_PROFILE") != nullptr;
double g_phase[8];
const char* g_phase_name[8] = {"embed", "norm+qkv", "rope+kv", "attention", "o_proj", "mlp", "head", ""};
std::chrono::steady_clock::time_point g_t;
inline void phase(int i) {
  if (!g_prof) return;
  auto now = std::chrono::steady_clock::now();
  if (i >= 0) g_phase[i] += std::chrono::duration<double, std::milli>(now - g_t).count();
  g_t = now;
}

// One forward over N new tokens (token n: row slot base[n], position pos[n]) writing their K/V
// into the cache; logits (n_out, V) for the token indices in want[].
void infer_step(Model& m, const PackedWeights& pw, Workspace& ws, float* kc, float* vc, int R, const int* tokens,
                const int* pos, const int* rows, int N, const int* want, int n_out, float* logits, int Tmax) {
  const Config& c = m.cfg;
  const int C = c.hidden_size, H = c.num_attention_heads, D = c.head_dim, KVH = c.num_key_value_heads;
  const int F = c.intermediate_size, QKV = m.qkv_dim(), HD = H * D, KD = KVH * D;
  const float* W = m.params.data();
  float* x = ws.x;
  phase(-1);
  for (int n = 0; n < N; n++) {
    if (tokens[n] < 0 || tokens[n] >= c.vocab_size) throw EngineError("token id outside the vocabulary in a prompt");
    std::memcpy(x + (size_t)n * C, W + m.embed + (size_t)tokens[n] * C, sizeof(float) * C);
  }
  for (int l = 0; l < c.num_hidden_layers; l++) {
    const LayerOffsets& lo = m.layers[l];
    const AttnDims ad{H, KVH, D};
    float* K = kc + (size_t)l * attention_kcache_floats(R, Tmax, ad);
    float* Vc = vc + (size_t)l * R * Tmax * KD;
    phase(0);
    rmsnorm_forward(ws.ln, nullptr, x, W + lo.ln1, N, C, c.rms_norm_eps);
    matmul_forward_prepacked(ws.qkv, ws.ln, &pw.buf[pw.qkv[l]], W + lo.qkv_b, N, C, QKV);
    phase(1);
    rope_forward(ws.qkv, pos, m.rope_cos.data(), m.rope_sin.data(), N, H + KVH, D, QKV);
    attention_cache_write(K, Vc, ws.qkv, rows, pos, N, QKV, Tmax, ad);
    phase(2);
    attention_cached_forward(ws.att, ws.scratch, ws.qkv, K, Vc, rows, pos, N, QKV, Tmax, ad, ws.slices);
    phase(3);
    matmul_forward_prepacked(ws.tmp, ws.att, &pw.buf[pw.o[l]], nullptr, N, HD, C);
    for (size_t i = 0; i < (size_t)N * C; i++) x[i] += ws.tmp[i];
    phase(4);
    rmsnorm_forward(ws.ln, nullptr, x, W + lo.ln2, N, C, c.rms_norm_eps);
    matmul_forward_prepacked(ws.gu, ws.ln, &pw.buf[pw.gu[l]], nullptr, N, C, 2 * F);
    swiglu_forward(ws.h, ws.gu, N, F);
    matmul_forward_prepacked(ws.tmp, ws.h, &pw.buf[pw.down[l]], nullptr, N, F, C);
    for (size_t i = 0; i < (size_t)N * C; i++) x[i] += ws.tmp[i];
    phase(5);
  }
  for (int i = 0; i < n_out; i++) std::memcpy(ws.last + (size_t)i * C, x + (size_t)want[i] * C, sizeof(float) * C);
  rmsnorm_forward(ws.lnl, nullptr, ws.last, W + m.norm, n_out, C, c.rms_norm_eps);
  matmul_forward_prepacked(logits, ws.lnl, &pw.buf[pw.head], nullptr, n_out, C, c.vocab_size);
  phase(6);
}

}  // namespace

void model_sample(Model& m, const SampleRequest& req, SampleOutput& out) {
  const bool prof = g_prof;
  auto t0 = std::chrono::steady_clock::now();
  double t_setup = 0, t_prefill = 0, t_sample = 0, t_step = 0;
  auto lap = [&](double& acc) {
    auto now = std::chrono::steady_clock::now();
    acc += std::chrono::duration<double, std::milli>(now - t0).count();
    t0 = now;
  };
  const Config& c = m.cfg;
  const int R = req.R, V = c.vocab_size, KD = c.num_key_value_heads * c.head_dim;
  std::vector<long> poff(R + 1, 0);
  int maxP = 0;
  for (int r = 0; r < R; r++) {
    if (req.prompt_lens[r] <= 0) throw EngineError("prompts[" + std::to_string(r) + "] is empty");
    poff[r + 1] = poff[r] + req.prompt_lens[r];
    maxP = std::max(maxP, req.prompt_lens[r]);
  }
  const int Tmax = maxP + req.max_new;
  if (Tmax > c.max_position_embeddings) throw EngineError("prompt + maxNewTokens exceeds max_position_embeddings");
  m.ensure_rope(Tmax);
  const AttnDims ad{c.num_attention_heads, c.num_key_value_heads, c.head_dim};
  // KV arena kept in the model between calls; stale entries past a row's position are never read
  // unmasked (scores past it are and-masked to exactly 0), so reuse cannot change a result.
  std::vector<float>& kc = m.ws.kcache;
  std::vector<float>& vc = m.ws.vcache;
  if (kc.size() < (size_t)c.num_hidden_layers * attention_kcache_floats(R, Tmax, ad))
    kc.resize((size_t)c.num_hidden_layers * attention_kcache_floats(R, Tmax, ad));
  if (vc.size() < (size_t)c.num_hidden_layers * R * Tmax * KD) vc.resize((size_t)c.num_hidden_layers * R * Tmax * KD);
  // unique prompts: the first row holding each prompt prefills it
  std::map<std::vector<int>, int> first;
  std::vector<int> owner(R);
  std::vector<int> ptoks, ppos, uniq;
  std::vector<int> prow;
  for (int r = 0; r < R; r++) {
    std::vector<int> key(req.prompts + poff[r], req.prompts + poff[r + 1]);
    auto it = first.find(key);
    if (it != first.end()) { owner[r] = it->second; continue; }
    first.emplace(key, r);
    owner[r] = r;
    uniq.push_back(r);
    for (int i = 0; i < req.prompt_lens[r]; i++) {
      ptoks.push_back(key[i]); ppos.push_back(i); prow.push_back(r);
    }
  }
  PackedWeights pw(m);
  Workspace ws(m, std::max<int>((int)ptoks.size(), R), Tmax);
  std::vector<float> cur((size_t)R * V), ulog((size_t)uniq.size() * V);
  std::vector<int> want;
  for (size_t u = 0, at = 0; u < uniq.size(); u++) { at += req.prompt_lens[uniq[u]]; want.push_back((int)at - 1); }
  lap(t_setup);
  infer_step(m, pw, ws, kc.data(), vc.data(), R, ptoks.data(), ppos.data(), prow.data(), (int)ptoks.size(), want.data(),
             (int)uniq.size(), ulog.data(), Tmax);
  lap(t_prefill);
  std::vector<int> uidx(R, -1);
  for (size_t u = 0; u < uniq.size(); u++) uidx[uniq[u]] = (int)u;
  for (int r = 0; r < R; r++) {
    int o = owner[r];
    std::memcpy(&cur[(size_t)r * V], &ulog[(size_t)uidx[o] * V], sizeof(float) * V);
    if (o == r) continue;
    for (int l = 0; l < c.num_hidden_layers; l++)
      attention_cache_copy(kc.data() + (size_t)l * attention_kcache_floats(R, Tmax, ad), vc.data() + (size_t)l * R * Tmax * KD,
                           o, r, req.prompt_lens[r], Tmax, ad);
  }
  // decode
  const int slices = ws.slices;  // per-thread sampling scratch, as many slices as the attention's
  std::vector<int> active(R), idx((size_t)slices * V), next_tok(R), next_pos(R), want2(R);
  std::vector<float> prob((size_t)slices * V), nlog((size_t)R * V);
  std::vector<int> next_row(R);
  for (int r = 0; r < R; r++) { active[r] = r; out.lens[r] = 0; out.finish[r] = 1; }
  for (int step = 0; step < req.max_new && !active.empty(); step++) {
    int A = (int)active.size();
    parallel_for(A, [&](int i, int tid) {
      int r = active[i];
      float lp;
      int y = sample_row(&lp, idx.data() + (size_t)tid * V, prob.data() + (size_t)tid * V, &cur[(size_t)r * V], V, req.s,
                         rng_uniform(req.seeds[r], (uint64_t)step));
      out.tokens[(size_t)r * req.max_new + step] = y;
      out.logprobs[(size_t)r * req.max_new + step] = lp;
      out.lens[r] = step + 1;
      if (std::find(req.stop, req.stop + req.nstop, y) != req.stop + req.nstop) out.finish[r] = 0;
    }, slices);
    lap(t_sample);
    std::vector<int> still;
    for (int r : active) if (out.finish[r] == 1 && step + 1 < req.max_new) still.push_back(r);
    active.swap(still);
    int n = (int)active.size();
    if (!n) break;
    for (int i = 0; i < n; i++) {
      int r = active[i];
      next_tok[i] = out.tokens[(size_t)r * req.max_new + step];
      next_pos[i] = req.prompt_lens[r] + step;
      next_row[i] = r;
      want2[i] = i;
    }
    infer_step(m, pw, ws, kc.data(), vc.data(), R, next_tok.data(), next_pos.data(), next_row.data(), n, want2.data(), n,
               nlog.data(), Tmax);
    for (int i = 0; i < n; i++) std::memcpy(&cur[(size_t)active[i] * V], &nlog[(size_t)i * V], sizeof(float) * V);
    lap(t_step);
  }
  if (prof) {
    std::fprintf(stderr, "sample: setup %.1fms prefill %.1fms sampling %.1fms decode %.1fms |", t_setup, t_prefill, t_sample, t_step);
    for (int i = 0; i < 7; i++) std::fprintf(stderr, " %s %.1fms", g_phase_name[i], g_phase[i]);
    std::fprintf(stderr, "\n");
  }
  if (prof) for (double& x : g_phase) x = 0;
}

}  // namespace zs
