#include "train.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common.h"
#include "logprob.h"

namespace zs {
namespace {

// KL estimators of q = ref - lp (clamped to [-20, 20]): value and d/dlp.
struct Kl { double v, d; };
Kl kl_k1(double q, bool in) { return {-q, in ? 1.0 : 0.0}; }
Kl kl_k2(double q, bool in) { return {0.5 * q * q, in ? -q : 0.0}; }
Kl kl_k3(double q, bool in) { double e = std::exp(q); return {e - q - 1.0, in ? 1.0 - e : 0.0}; }
Kl (*const kKl[])(double, bool) = {kl_k1, kl_k2, kl_k3};

// Token weight of each aggregation (normalisers of the whole batch).
double w_token_mean(const LossSpec& s, double) { return 1.0 / s.global_tokens; }
double w_seq_mean_token_mean(const LossSpec& s, double n) { return 1.0 / (s.global_seqs * n); }
double w_seq_mean_token_sum_norm(const LossSpec& s, double) { return 1.0 / (s.global_seqs * s.max_response_length); }
double (*const kAgg[])(const LossSpec&, double) = {w_token_mean, w_seq_mean_token_mean, w_seq_mean_token_sum_norm};

}  // namespace

void check_loss(const TrainBatch& b, const LossSpec& s) {
  if (s.kind != LossKind::GRPO) return;
  if (!b.advantages || !b.old_lp) throw EngineError("GRPO loss needs advantages and oldLogprobs");
  if (s.kl_coef > 0 && !b.ref_lp) throw EngineError("klCoef > 0 needs refLogprobs");
  if (s.off_policy != OffPolicy::None && !b.prox_lp) throw EngineError("offPolicy other than none needs proxLogprobs");
  if (!(s.behav_weight_cap > 0)) throw EngineError("behavWeightCap must be > 0");
  if (!(s.tis_cap > 0)) throw EngineError("tisCap must be > 0");
  if (!(s.mis_low > 0) || !(s.mis_low < s.mis_high)) throw EngineError("misLow must be > 0 and below misHigh");
  if (!(s.entropy_coef >= 0)) throw EngineError("entropyCoef must be >= 0");
}

namespace {

// The importance weight of one token (w, and whether the cap truncated or masked it), given ρ = π_prox/μ
// and, for mis, whether the token's sequence is inside the band.
struct IsWeight { double w; bool truncated; };
IsWeight is_weight(const LossSpec& s, double rho, bool seq_in_band) {
  switch (s.off_policy) {
    case OffPolicy::Decoupled: return rho > s.behav_weight_cap ? IsWeight{0.0, true} : IsWeight{rho, false};
    case OffPolicy::Tis: return rho > s.tis_cap ? IsWeight{s.tis_cap, true} : IsWeight{rho, false};
    case OffPolicy::Mis: return {seq_in_band ? 1.0 : 0.0, false};
    default: return {1.0, false};
  }
}

// mis: whether sequence [a, b)'s geometric-mean ratio exp(mean over its loss tokens of log(π_prox/μ)) is
// inside [mis_low, mis_high] (a sequence without loss tokens is).
bool seq_in_band(const TrainBatch& b, const LossSpec& s, int a, int e) {
  double sum = 0, n = 0;
  for (int t = a + 1; t < e; t++) {
    if (b.mask[t] == 0.f) continue;
    sum += (double)b.prox_lp[t] - b.old_lp[t];
    n += 1;
  }
  if (n == 0) return true;
  double g = std::exp(sum / n);
  return g >= s.mis_low && g <= s.mis_high;
}

}  // namespace

LossStats loss_forward_backward(float* dlp, float* dent, const float* lp, const float* ent, const TrainBatch& b,
                                const Packed& p, const LossSpec& s) {
  LossStats st;
  st.ratio_max = s.kind == LossKind::GRPO ? 0.0 : 1.0;
  const bool corrected = s.kind == LossKind::GRPO && s.off_policy != OffPolicy::None;
  const bool entropy = s.entropy_coef != 0;
  std::memset(dlp, 0, sizeof(float) * p.N);
  if (entropy) std::memset(dent, 0, sizeof(float) * p.N);
  for (int q = 0; q < p.B; q++) {
    double nseq = 0;
    for (int t = p.off[q] + 1; t < p.off[q + 1]; t++) nseq += b.mask[t] != 0.f;
    const bool in_band = s.off_policy != OffPolicy::Mis || seq_in_band(b, s, p.off[q], p.off[q + 1]);
    for (int t = p.off[q]; t < p.off[q + 1]; t++) {
      if (t == p.off[q] || b.mask[t] == 0.f) continue;
      double m = b.mask[t];
      st.tokens += 1;
      st.entropy_sum += ent[t];
      if (s.kind == LossKind::CE) {
        double w = m / s.global_tokens;
        st.pg_loss += -lp[t] * w;
        dlp[t] = (float)(-w);
        continue;
      }
      // sampler–trainer mismatch, ρ = π_prox/μ (π_prox: this forward's lp when none was given)
      const double prox = b.prox_lp ? b.prox_lp[t] : lp[t], log_rho = prox - b.old_lp[t], rho = std::exp(log_rho);
      st.mismatch_k3_sum += rho - 1.0 - log_rho;
      st.mismatch_max_gap = std::max(st.mismatch_max_gap, std::fabs(std::exp((double)b.old_lp[t]) - std::exp(prox)));
      const IsWeight iw = is_weight(s, rho, in_band);
      st.w_sum += iw.w; st.w_max = std::max(st.w_max, iw.w);
      st.w_truncated += iw.truncated; st.w_masked += iw.w == 0.0;

      double w = m * kAgg[(int)s.agg](s, nseq), A = b.advantages[t];
      double ratio = std::exp((double)lp[t] - (corrected ? b.prox_lp[t] : b.old_lp[t]));
      double lo = 1.0 - s.clip_low, hi = 1.0 + s.clip_high;
      double unclipped = -A * ratio, clipped = -A * std::min(std::max(ratio, lo), hi);
      double pg, dpg;
      if (clipped > unclipped) { pg = clipped; dpg = 0; st.clip_count += 1; }
      else { pg = unclipped; dpg = -A * ratio; }
      // the weight has no gradient; the uncorrected objective never multiplies (its bits stay as they were)
      if (corrected) { pg *= iw.w; dpg *= iw.w; }
      st.ratio_max = std::max(st.ratio_max, ratio);
      double kl = 0, dkl = 0;
      if (b.ref_lp) {
        double qv = (double)b.ref_lp[t] - lp[t];
        bool in = qv > -20.0 && qv < 20.0;
        Kl k = kKl[(int)s.kl](std::min(std::max(qv, -20.0), 20.0), in);
        kl = k.v; dkl = k.d;
      }
      st.kl_sum += kl;
      st.pg_loss += w * pg;
      st.kl_loss += w * kl;
      dlp[t] = (float)(w * (dpg + s.kl_coef * dkl));
      if (entropy) {
        st.entropy_loss += w * ent[t];
        dent[t] = (float)(-s.entropy_coef * w);
      }
    }
  }
  st.loss = st.pg_loss + s.kl_coef * st.kl_loss;
  if (entropy) st.loss -= s.entropy_coef * st.entropy_loss;
  return st;
}

void model_logits(Model& m, float* out, const int* tokens, const int* seq_lens, int B) {
  Packed p(seq_lens, B);
  model_forward(m, m.acts, tokens, p, false, /*keep=*/false);
  model_head_forward(m, m.acts, out, 0, p.N, model_head_pack(m));   // the caller asked for (N,V): written in place, no copy
}

// The LM head, log-softmax, the sampled tokens' log-probs and entropy run over chunks of logit rows
// (logit_chunk_rows): nothing of size (tokens x vocab) is ever allocated. Rows are independent and the
// head's gradient is one FMA chain over rows in order, so the results are those of the whole batch, bit for bit.
void model_logprobs(Model& m, float* out, const int* tokens, const int* seq_lens, int B, float T) {
  Packed p(seq_lens, B);
  model_forward(m, m.acts, tokens, p, false, /*keep=*/false);  // forward only: one layer's activations
  const int V = m.cfg.vocab_size, rows = logit_chunk_rows(p.N, V);
  auto& chunk = m.ws.logit_rows;
  if (chunk.size() < (size_t)rows * V) chunk.resize((size_t)rows * V);
  const float* head = model_head_pack(m);
  for (int r0 = 0; r0 < p.N; r0 += rows) {
    const int n = std::min(rows, p.N - r0);
    model_head_forward(m, m.acts, chunk.data(), r0, n, head);
    logprob_forward_rows(out, nullptr, chunk.data(), tokens, p.start.data(), r0, n, p.N, V, T);
  }
}

LossStats model_accumulate(Model& m, const TrainBatch& b, const LossSpec& s) {
  m.check_trainable();
  Packed p(b.seq_lens, b.B);
  check_loss(b, s);
  Acts& a = m.acts;
  model_forward(m, a, b.tokens, p, false);
  const float T = s.kind == LossKind::GRPO ? s.temperature : 1.f;
  const int V = m.cfg.vocab_size, rows = logit_chunk_rows(p.N, V);
  auto &lp = m.ws.lp, &ent = m.ws.ent, &dlp = m.ws.dlp, &dent = m.ws.dent, &chunk = m.ws.logit_rows, &dchunk = m.ws.dlogits;
  if (lp.size() < (size_t)p.N) { lp.resize(p.N); ent.resize(p.N); dlp.resize(p.N); dent.resize(p.N); }
  if (chunk.size() < (size_t)rows * V) chunk.resize((size_t)rows * V);
  if (dchunk.size() < (size_t)rows * V) dchunk.resize((size_t)rows * V);
  const float* head = model_head_pack(m);  // the weights do not change until the optimizer step: backward reuses it
  for (int r0 = 0; r0 < p.N; r0 += rows) {
    const int n = std::min(rows, p.N - r0);
    model_head_forward(m, a, chunk.data(), r0, n, head);
    logprob_forward_rows(lp.data(), ent.data(), chunk.data(), b.tokens, p.start.data(), r0, n, p.N, V, T);
  }
  LossStats st = loss_forward_backward(dlp.data(), dent.data(), lp.data(), ent.data(), b, p, s);
  const float* dent_or_null = s.entropy_coef != 0 ? dent.data() : nullptr;   // 0: the entropy's backward is skipped
  // backward: each chunk's logits are computed again (the same bits) and turned into its dlogits; when the
  // whole batch is one chunk, the forward's logits are still in the buffer
  const bool one_chunk = rows >= p.N;
  model_backward(m, a, [&](int r0, int n) {
    if (!one_chunk) model_head_forward(m, a, chunk.data(), r0, n, head);
    logprob_backward_rows(dchunk.data(), dlp.data(), dent_or_null, chunk.data(), b.tokens, p.start.data(), r0, n, p.N, V, T);
    return (const float*)dchunk.data();
  }, rows, b.tokens, p);
  return st;
}

}  // namespace zs
